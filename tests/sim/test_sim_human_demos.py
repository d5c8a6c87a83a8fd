"""Synthetic human episodes through the dataset writer: like real human data, valid, reproducible, resumable."""

import numpy as np
import pytest

from dexego.cli import main
from dexego.data import Dataset
from dexego.data.validate import validate_dataset
from dexego.sim.demos import SEED_STRIDE, record_demos
from dexego.sim.human_demos import human_attempt_config, run_human_episode
from dexego.sim.human_tasks import all_task_names, human_task_names
from dexego.sim.scene import HUMAN_LOOKS
from dexego.sim.tasks import task_names


def test_human_episodes_are_written_like_real_human_data_and_resume(tmp_path):
    out = tmp_path / "human"
    first = record_demos("Close-Drawer-Left", 1, out, image_size=48, embodiment="human")
    assert first["written"] == 1 and first["embodiment"] == "human"
    resumed = record_demos("Close-Drawer-Left", 2, out, image_size=48, embodiment="human")
    assert resumed["skipped_existing"] == 1 and resumed["written"] == 1
    assert validate_dataset(out) == []
    ds = Dataset(out)
    assert ds.num_episodes == 2
    meta = ds.episode_meta(1)
    assert meta["source"] == "sim_human" and meta["embodiment"] == "human"
    ep = ds.episode(1)
    assert ep.robot_state is None and ep.robot_action is None
    assert ep.frames.shape[1:] == (48, 48, 3) and ep.frames.shape[0] == ep.length
    assert np.isfinite(ep.keypoints_world).all()  # all 21 keypoints of both hands
    assert ep.instructions[0][2] == "Close the opened drawer with the left hand"
    assert np.linalg.norm(np.diff(ep.world_from_camera[:, :3, 3], axis=0), axis=-1).max() > 0  # the head moves
    # The resumed episode is the one an uninterrupted run writes: attempt 1 (all attempts of this task succeed).
    direct = run_human_episode("Close-Drawer-Left", SEED_STRIDE * 0 + 1, *human_attempt_config(1), render=False)
    assert np.allclose(ep.keypoints_world, direct["keypoints_world"], atol=1e-6)
    assert np.allclose(ep.world_from_camera, direct["world_from_camera"], atol=1e-6)


def test_same_seed_gives_the_same_episode_and_attempts_cycle_the_human_looks():
    a = run_human_episode("Push-Box", 11, 4, 5, render=True, image_size=32)
    b = run_human_episode("Push-Box", 11, 4, 5, render=True, image_size=32)
    assert np.array_equal(a["frames"], b["frames"]) and np.array_equal(a["keypoints_world"], b["keypoints_world"])
    assert a["sizes"] == b["sizes"] and a["hand_valid"].dtype == bool
    assert {human_attempt_config(i) for i in range(25)} == set(HUMAN_LOOKS)


def test_cli_lists_human_only_tasks_and_rejects_bad_input(capsys, tmp_path):
    assert main(["sim", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split()[0] for line in lines if "human-only" in line]
    assert marked == human_task_names() and len(lines) == len(all_task_names())
    assert main(["sim", "demos", "--embodiment", "human", "--task", "Nope", "--out", str(tmp_path / "d")]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert (
        main(["sim", "demos", "--task", "Stack-Can-Left", "--out", str(tmp_path / "r")]) == 2
    )  # human-only task, robot embodiment
    assert main(["sim", "demos", "--task", "Push-Box", "--episodes", "0", "--out", str(tmp_path / "z")]) == 2
    assert "episodes and workers must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "d").exists() and not (tmp_path / "z").exists()


@pytest.mark.slow
@pytest.mark.parametrize("task", task_names(long_horizon=False) + human_task_names())
def test_human_demo_yield(task):
    results = [run_human_episode(task, 500 + i, *human_attempt_config(i), render=False)["success"] for i in range(10)]
    assert np.mean(results) >= 0.5, f"{task}: human-demo yield {np.mean(results):.2f}"
