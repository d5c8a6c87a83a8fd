"""The Hugging Face backbone with the model directory's own text tokenizer (not the byte fallback).

A tiny BPE tokenizer is trained here on a few sentences with the ``tokenizers``
library, wrapped as a transformers ``PreTrainedTokenizerFast`` and saved
beside a tiny random model (no hub access).
"""

import numpy as np
import pytest
import torch
from helpers_models import action_stats, synthetic_batch, synthetic_chunks
from hf_tiny_models import save_tiny_model

from dexego.config import load_config
from dexego.models import Policy, PolicyConfig

SENTENCES = ["pick up the red cup", "put the cup on the shelf", "open the drawer slowly", "close the drawer",
             "pick up the blue bowl and put it in the sink", "wipe the table"]  # fmt: skip
INSTRUCTIONS = ["pick up the red cup and put it on the shelf", "open the drawer"]  # two lengths
VOCAB_SIZE = 100  # far below the tiny models' image/video/vision-marker ids (310-313)


def train_text_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=["[PAD]", "[UNK]"], show_progress=False)
    raw.train_from_iterator(SENTENCES, trainer=trainer)
    return raw, PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = save_tiny_model("idefics3", tmp_path_factory.mktemp("idefics3") / "model")
    _, wrapped = train_text_tokenizer()
    wrapped.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def expected_ids():
    """The ids straight from the ``tokenizers`` object (independent of the transformers wrapper and the adapter)."""
    raw, _ = train_text_tokenizer()
    return [raw.encode(text, add_special_tokens=False).ids for text in INSTRUCTIONS]


def hf_policy(model_dir, **hf):
    config = load_config(PolicyConfig, {"backbone": "hf", "hf": {"path": str(model_dir), "image_size": 32, **hf},
                                        "regression": {"width": 32, "depth": 1, "heads": 2}})  # fmt: skip
    torch.manual_seed(0)
    return Policy(config, action_stats(synthetic_chunks(64)))


def batch_with_instructions():
    batch = synthetic_batch(batch=2)
    batch["instruction"] = list(INSTRUCTIONS)
    return batch


def capture_model_inputs(backbone) -> tuple[dict, "torch.utils.hooks.RemovableHandle"]:
    seen = {}

    def hook(module, args, kwargs):
        seen["input_ids"], seen["attention_mask"] = kwargs["input_ids"].clone(), kwargs["attention_mask"].clone()

    return seen, backbone.vlm.register_forward_pre_hook(hook, with_kwargs=True)


def test_instructions_are_tokenised_with_the_directory_tokenizer_and_padded(model_dir, expected_ids):
    policy = hf_policy(model_dir)
    backbone = policy.backbone
    assert backbone.tokenizer is not None
    assert all(0 < i < VOCAB_SIZE for ids in expected_ids for i in ids)
    assert len(expected_ids[0]) != len(expected_ids[1])
    assert len(expected_ids[0]) < len(INSTRUCTIONS[0].encode())  # words and merges, not bytes
    assert backbone._text_ids(INSTRUCTIONS) == expected_ids

    seen, hook = capture_model_inputs(backbone)
    try:
        batch = batch_with_instructions()
        images = torch.from_numpy(batch["images"])
        with torch.no_grad():
            out = backbone(images, torch.from_numpy(batch["image_mask"]), batch["instruction"])
    finally:
        hook.remove()
    frames = images.shape[1]
    image_block = [backbone.image_token_id] * backbone.tokens_per_image
    longest = frames * len(image_block) + max(map(len, expected_ids))
    assert seen["input_ids"].shape == (2, longest)
    for i, ids in enumerate(expected_ids):
        real = frames * len(image_block) + len(ids)
        assert seen["input_ids"][i, :real].tolist() == image_block * frames + ids
        assert seen["attention_mask"][i].tolist() == [1] * real + [0] * (longest - real)
        assert not seen["input_ids"][i, real:].any()  # padding id 0 after the instruction
        torch.testing.assert_close(out.pooled[i], out.tokens[i, real - 1])  # the last real token, not padding
    assert out.mask.tolist() == seen["attention_mask"].bool().tolist()


def test_max_text_tokens_cuts_the_tokenizer_ids(model_dir, expected_ids):
    policy = hf_policy(model_dir, max_text_tokens=3)
    assert policy.backbone._text_ids(INSTRUCTIONS) == [ids[:3] for ids in expected_ids]


def test_forward_backward_predict_and_reload_with_the_tokenizer(model_dir, expected_ids, tmp_path):
    policy = hf_policy(model_dir)
    batch = batch_with_instructions()
    loss, metrics = policy(batch)
    assert np.isfinite(metrics["loss"])
    loss.backward()
    assert any(
        p.grad is not None and float(p.grad.abs().sum()) > 0 for p in policy.backbone.language_model().parameters()
    )
    obs = {k: v for k, v in batch.items() if k not in ("actions", "action_valid")}
    chunks = policy.predict_action_chunk(obs)
    assert chunks.shape == (2, 30, 48) and np.isfinite(chunks).all()
    swapped = policy.predict_action_chunk(dict(obs, instruction=INSTRUCTIONS[::-1]))
    assert not np.allclose(chunks, swapped[::-1])  # each row reads its own instruction
    np.testing.assert_allclose(policy.predict_action_chunk({k: v[1] for k, v in obs.items()}), chunks[1], atol=1e-5)
    policy.save(tmp_path / "policy")
    loaded = Policy.load(tmp_path / "policy")  # the tokenizer travels with the policy
    assert loaded.backbone.tokenizer is not None and loaded.backbone._text_ids(INSTRUCTIONS) == expected_ids
    np.testing.assert_array_equal(loaded.predict_action_chunk(obs), chunks)
