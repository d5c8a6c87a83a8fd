"""`record_demos` into shared dataset folders: several tasks per folder, exact resume, one embodiment per folder."""

import numpy as np
import pytest

from dexego.cli import main
from dexego.data import Dataset, DatasetWriter
from dexego.data.validate import validate_dataset
from dexego.errors import InputError
from dexego.sim import demos
from dexego.sim.demos import SEED_STRIDE, record_demos, recorded_attempts, run_expert_episode, to_episode

SIZE = 32  # tiny frames keep these tests fast


def episodes_of(root, task):
    """(metadata, episode) of every episode of ``task`` in the dataset at ``root``, in dataset order."""
    ds = Dataset(root)
    out = []
    for i in range(ds.num_episodes):
        meta = ds.episode_meta(i)["metadata"]
        if meta["task"] == task:
            out.append((meta, ds.episode(i)))
    return out


def assert_same_episodes(a, b):
    assert [m["seed"] for m, _ in a] == [m["seed"] for m, _ in b]
    assert [m["attempt"] for m, _ in a] == [m["attempt"] for m, _ in b]
    for (_, ea), (_, eb) in zip(a, b):
        assert np.array_equal(ea.keypoints_world, eb.keypoints_world, equal_nan=True)
        assert np.array_equal(ea.robot_state, eb.robot_state) and np.array_equal(ea.robot_action, eb.robot_action)
        assert np.array_equal(ea.world_from_camera, eb.world_from_camera)


@pytest.fixture
def every_third_attempt_fails(monkeypatch):
    """Attempts 1, 4, 7, ... fail (without simulating), so attempt numbers and episode counts differ."""
    real = demos._run

    def run(task, seed, *args, **kwargs):
        return {"success": False} if seed % SEED_STRIDE % 3 == 1 else real(task, seed, *args, **kwargs)

    monkeypatch.setattr(demos, "_run", run)


def test_fresh_recording_uses_attempts_from_zero_with_the_documented_seeds(tmp_path):
    summary = record_demos("Close-Drawer", 2, tmp_path / "d", image_size=SIZE, seed=3)
    assert summary["written"] == 2 and summary["first_attempt"] == 0 and summary["skipped_existing"] == 0
    got = episodes_of(tmp_path / "d", "Close-Drawer")
    assert [m["seed"] for m, _ in got] == [3 * SEED_STRIDE, 3 * SEED_STRIDE + 1]
    assert [(m["base_seed"], m["attempt"]) for m, _ in got] == [(3, 0), (3, 1)]
    for i, (meta, ep) in enumerate(got):
        seed, room, table = demos.attempt_plan(i, 3, demos.default_looks("robot"))
        assert (meta["seed"], meta["room"], meta["table"]) == (seed, room, table)
        direct = run_expert_episode("Close-Drawer", seed, room, table, render=False)
        assert np.array_equal(ep.keypoints_world, direct["keypoints_world"], equal_nan=True)
        assert np.array_equal(ep.robot_action, direct["robot_action"])


def test_two_tasks_share_a_folder_and_an_interrupted_run_resumes_exactly(tmp_path, every_third_attempt_fails):
    shared, alone = tmp_path / "shared", tmp_path / "alone"

    def kill_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record_demos("Close-Drawer", 4, shared, image_size=SIZE, progress=kill_after_two)
    assert recorded_attempts(shared, "Close-Drawer", "robot") == [0, 2]  # attempt 1 failed
    other = record_demos("Open-Drawer", 1, shared, image_size=SIZE)
    assert (other["written"], other["skipped_existing"], other["first_attempt"]) == (1, 0, 0)
    # The first task again: its own 2 episodes count (not the other task's), it continues after attempt 2.
    resumed = record_demos("Close-Drawer", 4, shared, image_size=SIZE)
    assert (resumed["skipped_existing"], resumed["first_attempt"], resumed["written"]) == (2, 3, 2)
    for task, n in (("Close-Drawer", 4), ("Open-Drawer", 1)):  # re-running a finished task records nothing
        done = record_demos(task, n, shared, image_size=SIZE)
        assert (done["written"], done["attempts"], done["skipped_existing"]) == (0, 0, n)
    assert validate_dataset(shared) == []
    assert Dataset(shared).num_episodes == 5
    assert recorded_attempts(shared, "Close-Drawer", "robot") == [0, 2, 3, 5]
    assert recorded_attempts(shared, "Open-Drawer", "robot") == [0]
    # The same episodes as the task recorded into its own folder, uninterrupted.
    record_demos("Close-Drawer", 4, alone, image_size=SIZE)
    assert_same_episodes(episodes_of(shared, "Close-Drawer"), episodes_of(alone, "Close-Drawer"))


def test_datasets_without_attempt_metadata_resume_from_the_seed(tmp_path):
    out = tmp_path / "old"
    rollout = run_expert_episode("Close-Drawer", 0, *demos.default_looks("robot")[0], image_size=SIZE)
    with DatasetWriter(out, fps=30) as writer:  # written as before attempts were recorded: task and full seed only
        writer.add_episode(to_episode("Close-Drawer", rollout))
    assert recorded_attempts(out, "Close-Drawer", "robot") == [0]
    resumed = record_demos("Close-Drawer", 2, out, image_size=SIZE)
    assert (resumed["skipped_existing"], resumed["first_attempt"], resumed["written"]) == (1, 1, 1)
    assert [m["seed"] for m, _ in episodes_of(out, "Close-Drawer")] == [0, 1]
    # Another base seed is counted on its own, in the same folder.
    other = record_demos("Close-Drawer", 1, out, image_size=SIZE, seed=1)
    assert (other["skipped_existing"], other["written"]) == (0, 1)
    assert recorded_attempts(out, "Close-Drawer", "robot", seed=1) == [0]
    assert Dataset(out).episode_meta(2)["metadata"]["seed"] == SEED_STRIDE


def test_mixing_embodiments_in_one_dataset_is_refused(tmp_path, capsys):
    out = tmp_path / "human"
    record_demos("Close-Drawer-Left", 1, out, image_size=SIZE, embodiment="human")
    with pytest.raises(InputError) as err:
        record_demos("Close-Drawer", 1, out, image_size=SIZE, embodiment="robot")
    assert str(out) in str(err.value) and "embodiment" in str(err.value) and "'human'" in str(err.value)
    assert (
        main(
            ["sim", "demos", "--task", "Close-Drawer", "--episodes", "1", "--image-size", str(SIZE), "--out", str(out)]
        )
        == 2
    )
    assert "one dataset holds one embodiment" in capsys.readouterr().err
    assert Dataset(out).num_episodes == 1 and validate_dataset(out) == []
