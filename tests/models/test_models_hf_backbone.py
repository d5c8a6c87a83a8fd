import numpy as np
import pytest
import torch
from helpers_models import action_stats, synthetic_batch, synthetic_chunks
from hf_tiny_models import save_tiny_model

from dexego.config import load_config
from dexego.errors import ConfigError
from dexego.models import Policy, PolicyConfig

ARCHITECTURES = ["idefics3", "paligemma", "qwen2_5_vl"]


@pytest.fixture(scope="module", params=ARCHITECTURES)
def model_dir(request, tmp_path_factory):
    return save_tiny_model(request.param, tmp_path_factory.mktemp(request.param) / "model")


def hf_policy(model_dir, **hf):
    config = load_config(PolicyConfig, {"backbone": "hf", "hf": {"path": str(model_dir), "image_size": 32, **hf},
                                        "regression": {"width": 32, "depth": 1, "heads": 2}})  # fmt: skip
    torch.manual_seed(0)
    return Policy(config, action_stats(synthetic_chunks(64)))


def test_forward_and_backward_reach_both_towers(model_dir):
    policy = hf_policy(model_dir)
    loss, metrics = policy(synthetic_batch(batch=2))
    assert np.isfinite(metrics["loss"])
    loss.backward()
    backbone = policy.backbone
    for tower in (backbone.vision_tower(), backbone.language_model()):
        grads = [p.grad for p in tower.parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_freezing_options(model_dir):
    policy = hf_policy(model_dir, freeze_vision=True, freeze_language=True)
    backbone = policy.backbone
    assert not any(p.requires_grad for p in backbone.vision_tower().parameters())
    assert not any(p.requires_grad for p in backbone.language_model().parameters())
    loss, _ = policy(synthetic_batch(batch=2))
    loss.backward()
    assert all(p.grad is None for p in backbone.language_model().parameters())
    assert any(p.grad is not None for p in policy.head.parameters())


def test_instruction_changes_the_features(model_dir):
    policy = hf_policy(model_dir)
    obs = {k: v[0] for k, v in synthetic_batch(batch=1).items() if k not in ("actions", "action_valid")}
    other = dict(obs, instruction="open the drawer slowly")
    assert not np.allclose(policy.predict_action_chunk(obs), policy.predict_action_chunk(other))


def test_save_load_without_the_source_directory(model_dir, tmp_path):
    policy = hf_policy(model_dir)
    obs = {k: v for k, v in synthetic_batch(batch=2).items() if k not in ("actions", "action_valid")}
    policy.save(tmp_path / "policy")
    loaded = Policy.load(tmp_path / "policy")  # the architecture comes from the policy directory
    np.testing.assert_array_equal(policy.predict_action_chunk(obs), loaded.predict_action_chunk(obs))


def test_missing_or_unsupported_model_directory(tmp_path):
    with pytest.raises(ConfigError, match="not a local model directory"):
        hf_policy(tmp_path / "absent")
    from transformers import LlamaConfig

    LlamaConfig(
        vocab_size=300, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    ).save_pretrained(tmp_path / "llama")
    with pytest.raises(ConfigError, match="not supported"):
        hf_policy(tmp_path / "llama")
