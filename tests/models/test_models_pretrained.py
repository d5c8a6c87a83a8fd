"""The policy folder (dexego.models.pretrained): save_pretrained / from_pretrained, metadata, and runs of format 1.

``fixtures/policy_format_v1`` is a two-step training run (tiny backbone and regression head, 16 wide, EMA 0.5,
a checkpoint every step) written by dexego before the policy folder format 2, with the optimiser and RNG state
of step 1 and the metrics/tensorboard files left out to keep it small. ``fixtures/expected_chunks.json`` holds
the chunks that code predicted for ``fixtures/observation.safetensors`` from ``final/policy``, ``step-00000001``
and ``step-00000002`` (rounded to 1e-6).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file

from dexego.config import load_config
from dexego.errors import InputError
from dexego.models import Policy, PolicyConfig, pretrained

FIXTURES = Path(__file__).parent / "fixtures"
V1_RUN = FIXTURES / "policy_format_v1"
SMALL = {"horizon": 4, "n_obs_frames": 2, "tiny": {"image_size": 32, "width": 16, "depth": 1, "heads": 2},
         "regression": {"width": 16, "depth": 1, "heads": 2}}  # fmt: skip


def observation() -> dict:
    from safetensors import safe_open

    path = FIXTURES / "observation.safetensors"
    with safe_open(str(path), "np") as handle:
        instruction = handle.metadata()["instruction"]
    return {**load_numpy(str(path)), "instruction": instruction}


def expected(name: str) -> np.ndarray:
    return np.asarray(json.loads((FIXTURES / "expected_chunks.json").read_text())[name], dtype=np.float32)


def weights(policy) -> dict:
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}


@pytest.mark.parametrize("spelling, reference", [
    ("", "final/policy"), ("final", "final/policy"), ("final/policy", "final/policy"),
    ("checkpoints/step-00000002", "checkpoints/step-00000002"), ("checkpoints/step-00000001", "checkpoints/step-00000001"),
])  # fmt: skip
def test_a_format_1_run_loads_every_spelling_and_predicts_as_before(spelling, reference):
    policy = Policy.from_pretrained(V1_RUN / spelling)
    assert not policy.training and policy.config.horizon == 4
    np.testing.assert_allclose(policy.predict_action_chunk(observation()), expected(reference), atol=2e-6)


def test_format_1_checkpoint_applies_its_ema_over_the_raw_weights():
    files = pretrained.locate(V1_RUN / "checkpoints" / "step-00000002")
    assert [p.name for p in files.weights] == ["model.safetensors", "ema.safetensors"]
    assert files.config_file == V1_RUN / "config.json" and files.metadata == {"step": 2, "ema": True}
    final = weights(Policy.from_pretrained(V1_RUN / "final" / "policy"))
    assert all(torch.equal(final[k], v) for k, v in weights(Policy.from_pretrained(files)).items())


def test_a_format_1_checkpoint_without_its_run_config_says_what_is_missing(tmp_path):
    lone = tmp_path / "step-00000002"
    shutil.copytree(V1_RUN / "checkpoints" / "step-00000002", lone)
    with pytest.raises(InputError, match=r"step-00000002: training checkpoint without a policy/ export.*config.json"):
        Policy.from_pretrained(lone)


def test_training_resumes_from_a_format_1_checkpoint(tmp_path):
    """The trainer reads format-1 state (raw weights, EMA, optimiser, RNG side by side) and writes format 2."""
    from dexego.train import StageData, Trainer, load_stage_config

    run = tmp_path / "run"
    shutil.copytree(V1_RUN, run)
    shutil.rmtree(run / "final")  # as if the run was killed after its last checkpoint
    stored = json.loads((run / "config.json").read_text())
    config = load_stage_config({**stored, "output_dir": str(run)})
    (run / "config.json").write_text(json.dumps({**stored, "output_dir": str(run)}))
    policy = Policy(config_from(stored), None)
    result = Trainer(config, policy, StageData([_NoSamples()])).fit()
    assert result.steps == 2
    final = Policy.from_pretrained(run / "final")
    assert pretrained.locate(run / "final").metadata["step"] == 2
    np.testing.assert_allclose(final.predict_action_chunk(observation()), expected("final/policy"), atol=2e-6)


def config_from(stage: dict) -> PolicyConfig:
    return load_config(PolicyConfig, stage["model"])


class _NoSamples(torch.utils.data.Dataset):
    """Enough items for the sampler; a finished run loads none of them."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        raise AssertionError("a run resumed at its last step trains no further")


def test_save_pretrained_round_trip_and_metadata(tmp_path, stats):
    policy = Policy(load_config(PolicyConfig, SMALL), stats).eval()
    folder = policy.save_pretrained(tmp_path / "p", metadata={"step": 7})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metadata.json", "model.safetensors"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["format"] == "dexego-policy" and meta["version"] == pretrained.FORMAT_VERSION and meta["step"] == 7
    assert (meta["action_space"], meta["action_dim"], meta["horizon"], meta["obs_frames"], meta["image_size"]) == (
        "ego48",
        48,
        4,
        2,
        32,
    )
    assert {"normalizer_shift", "normalizer_scale"} <= load_file(str(folder / "model.safetensors")).keys()
    loaded = Policy.from_pretrained(folder)
    assert loaded.config == policy.config and loaded.describe() == policy.describe()
    np.testing.assert_array_equal(
        loaded.predict_action_chunk(observation()), policy.predict_action_chunk(observation())
    )


def test_save_pretrained_with_other_weights(tmp_path, stats):
    policy = Policy(load_config(PolicyConfig, SMALL), stats)
    other = {k: torch.zeros_like(v) if k.startswith("head.") else v for k, v in policy.state_dict().items()}
    loaded = Policy.from_pretrained(policy.save_pretrained(tmp_path / "p", state_dict=other))
    assert all(torch.equal(v, other[k]) for k, v in loaded.state_dict().items())


@pytest.mark.parametrize("change, message", [
    ({"format": "something-else"}, "format: expected 'dexego-policy'"),
    ({"version": 99}, "version: this dexego reads policy formats 1 to 2, got 99"),
])  # fmt: skip
def test_a_bad_policy_config_is_one_error_naming_file_and_field(tmp_path, stats, change, message):
    folder = Policy(load_config(PolicyConfig, SMALL), stats).save_pretrained(tmp_path / "p")
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, **change}))
    with pytest.raises(InputError, match=message):
        pretrained._read_folder(folder)


def test_weights_of_another_model_are_refused_naming_the_file(tmp_path, stats):
    folder = Policy(load_config(PolicyConfig, SMALL), stats).save_pretrained(tmp_path / "p")
    bigger = Policy(load_config(PolicyConfig, {**SMALL, "regression": {"width": 32, "depth": 1, "heads": 2}}), stats)
    bigger.save_pretrained(tmp_path / "q")
    shutil.copy(tmp_path / "q" / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(
        InputError, match=r"model.safetensors: cannot read weights|model.safetensors: weights do not match"
    ):
        Policy.from_pretrained(folder)
