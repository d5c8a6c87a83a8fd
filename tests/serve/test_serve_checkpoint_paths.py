"""Every spelling of a training run's policy (run folder, checkpoint folder, policy folder) loads the same policy.

A real two-step training run (tiny backbone, EMA on) is the fixture: ``final/`` and every ``checkpoints/step-N``
are policy folders holding the EMA weights (the raw ones are in the checkpoint's ``trainer/``), so loading
``step-00000002`` must give exactly the ``final/`` policy, while ``step-00000001`` is a different policy.
Runs written in the earlier layout are tested in tests/models/test_models_pretrained.py.
"""

import json
import shutil

import numpy as np
import pytest
import torch

from dexego.cli import main
from dexego.errors import InputError
from dexego.serve import ChunkingConfig, policy_from_spec
from dexego.serve.loading import load_policy, resolve_policy

pytestmark = pytest.mark.timeout(120)

MODEL = {"horizon": 4, "n_obs_frames": 2}
SIZE = 32


class TinySamples(torch.utils.data.Dataset):
    """Training samples (the team contract's format) with random images and smooth-ish hands."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng(index)
        state = rng.normal(scale=0.1, size=48).astype(np.float32)
        actions = state[None] + 0.01 * np.arange(1, MODEL["horizon"] + 1, dtype=np.float32)[:, None]
        return {
            "images": torch.from_numpy(rng.integers(0, 256, (MODEL["n_obs_frames"], 3, SIZE, SIZE), dtype=np.uint8)),
            "image_mask": torch.ones(MODEL["n_obs_frames"], dtype=torch.bool),
            "instruction": "open the drawer",
            "state": torch.from_numpy(state),
            "state_valid": torch.ones(2, dtype=torch.bool),
            "actions": torch.from_numpy(actions),
            "action_valid": torch.ones(MODEL["horizon"], 2, dtype=torch.bool),
            "fov": torch.tensor([1.2, 0.9]),
            "embodiment": "human",
            "episode_index": torch.tensor(index),
            "frame_index": torch.tensor(0),
        }


def observation(seed: int = 0) -> dict:
    sample = TinySamples()[seed]
    return {
        k: v.numpy() if isinstance(v, torch.Tensor) else v
        for k, v in sample.items()
        if k not in ("actions", "action_valid")
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from dexego.train import StageData, load_stage_config, seed_everything
    from dexego.train.build import build_policy, run_stage

    out = tmp_path_factory.mktemp("train") / "run"
    config = load_stage_config({
        "name": "tiny", "output_dir": str(out), "model": MODEL, "optimizer": {"lr": 1e-2},
        "loop": {"max_steps": 2, "batch_size": 4, "checkpoint_every": 1, "keep_last": 2, "ema_decay": 0.5,
                 "log_every": 1, "val_every": 0, "progress": False},
    })  # fmt: skip
    seed_everything(config.seed)
    run_stage(config, build_policy(config), StageData([TinySamples()]))
    return out


def weights(policy) -> dict:
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]


def test_run_checkpoint_and_policy_folders_load_the_same_policy(run_dir):
    reference = load_policy(run_dir / "final")
    expected_weights, expected_chunk = weights(reference), reference.predict_action_chunk(observation(3))
    assert expected_chunk.shape == (MODEL["horizon"], 48)
    for spelling in (run_dir, run_dir / "final", str(run_dir / "final"), run_dir / "checkpoints" / "step-00000002"):
        policy = load_policy(spelling)
        assert not policy.training
        assert_same_weights(weights(policy), expected_weights)
        np.testing.assert_array_equal(policy.predict_action_chunk(observation(3)), expected_chunk)
    assert resolve_policy(run_dir).folder == run_dir / "final"
    step2 = resolve_policy(run_dir / "checkpoints" / "step-00000002")
    assert step2.folder == run_dir / "checkpoints" / "step-00000002" and step2.metadata["ema"] is True
    assert step2.metadata["step"] == 2 and step2.weights == (step2.folder / "model.safetensors",)


def test_an_earlier_checkpoint_is_a_different_policy(run_dir):
    final, first = load_policy(run_dir), load_policy(run_dir / "checkpoints" / "step-00000001")
    assert any(not torch.equal(a, b) for a, b in zip(weights(final).values(), weights(first).values()))


def test_run_folder_prefers_a_checkpoint_newer_than_final(run_dir, tmp_path):
    """A resumed run that goes on past its old final/: the run folder means its newest checkpoint."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    state = copy / "final" / "metadata.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "step": 1}))
    assert resolve_policy(copy).folder == copy / "checkpoints" / "step-00000002"
    assert_same_weights(weights(load_policy(copy)), weights(load_policy(run_dir)))


def test_every_spelling_reaches_the_cli_and_the_adapter(run_dir, monkeypatch):
    import dexego.serve

    built = {}
    monkeypatch.setattr(dexego.serve, "run_server", lambda server, on_ready: built.update(server=server))
    assert main(["serve", str(run_dir), "--port", "0"]) == 0
    assert built["server"].metadata["horizon"] == MODEL["horizon"]
    expected = load_policy(run_dir).predict_action_chunk(observation(1))
    np.testing.assert_array_equal(built["server"].policy.predict_action_chunk(observation(1)), expected)
    chunked = policy_from_spec(str(run_dir / "final"), chunking=ChunkingConfig(ensemble=False))
    chunked.reset(0)
    np.testing.assert_array_equal(chunked.act(observation(1)), expected[0])


def test_no_policy_is_one_clear_error_naming_the_path(run_dir, tmp_path):
    with pytest.raises(InputError, match=r"nowhere: not found"):
        load_policy(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as caught:
        load_policy(empty)
    message = str(caught.value)
    assert message.startswith(f"{empty}: no policy here; looked for")
    assert all(
        what in message
        for what in ("config.json + model.safetensors", "policy/config.json", "final/ or checkpoints/step-*/")
    )
    with pytest.raises(InputError, match="is a file"):
        load_policy(run_dir / "config.json")
    # A folder of runs is not a run: the error names the runs inside it.
    with pytest.raises(InputError, match=f"run folders {run_dir.name}: give one of them"):
        load_policy(run_dir.parent)


def test_a_checkpoint_copied_out_of_its_run_loads_on_its_own(run_dir, tmp_path):
    lone = tmp_path / "step-00000002"
    shutil.copytree(run_dir / "checkpoints" / "step-00000002", lone)
    assert_same_weights(weights(load_policy(lone)), weights(load_policy(run_dir / "final")))


def test_motion_eval_loader_uses_the_same_resolution(run_dir):
    from dexego.evaluate.dataset_motion import load_predictor

    predictor, settings = load_predictor(run_dir)
    assert settings == {"action_space": "ego48", "horizon": MODEL["horizon"], "history": MODEL["n_obs_frames"] - 1}
    assert_same_weights(weights(predictor), weights(load_policy(run_dir / "final")))
