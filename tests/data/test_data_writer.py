import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest

from dexego.actions import keypoints_to_action
from dexego.data import Dataset, DatasetWriter
from dexego.data import features as F
from dexego.data.synthetic import synthetic_episode
from dexego.data.validate import validate_dataset
from dexego.errors import InputError

V3_INFO_KEYS = {
    "codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
    "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits", "data_path", "video_path", "features",
    "embodiment",  # dexego's declaration (one embodiment per dataset, or "mixed"); LeRobot ignores extra keys
}  # fmt: skip


def test_round_trip_is_exact_for_numbers_and_close_for_frames(small_dataset):
    root, episodes = small_dataset
    ds = Dataset(root)
    assert ds.num_episodes == 3 and ds.num_frames == sum(e.length for e in episodes)
    for i, original in enumerate(episodes):
        back = ds.episode(i)
        np.testing.assert_array_equal(back.keypoints_world, original.keypoints_world)  # NaN where unknown, too
        np.testing.assert_array_equal(back.hand_valid, original.hand_valid)
        np.testing.assert_array_equal(back.world_from_camera, original.world_from_camera)
        np.testing.assert_array_equal(back.intrinsics, original.intrinsics_array())
        assert back.instructions == original.instructions
        assert (back.source, back.embodiment, back.fps, back.metadata) == ("synthetic", "human", 30.0, {"seed": i})
        error = np.abs(back.frames.astype(np.int16) - original.frames.astype(np.int16))
        assert back.frames.shape == original.frames.shape and error.mean() < 10


def test_state_and_action_follow_the_documented_definition(small_dataset):
    root, episodes = small_dataset
    cols = Dataset(root).episode_columns(1)
    ep = episodes[1]
    kp, pose, valid = ep.keypoints_world.astype(np.float64), ep.world_from_camera.astype(np.float64), ep.hand_valid
    expected_state = keypoints_to_action(kp, pose, valid, "ego48")
    np.testing.assert_allclose(cols[F.STATE], expected_state, atol=1e-6)
    # action[t] = hands at t+1 in the camera of t; the last frame repeats its state.
    t = 10
    expected = keypoints_to_action(kp[t + 1], pose[t], valid[t + 1], "ego48")
    np.testing.assert_allclose(cols[F.ACTION][t], expected, atol=1e-6)
    np.testing.assert_allclose(cols[F.ACTION][-1], cols[F.STATE][-1], atol=1e-6)
    assert np.all(cols[F.STATE][6, :24] == 0)  # the invalid left hand is zeros


def test_meta_tables_follow_v30_field_for_field(small_dataset):
    root, episodes = small_dataset
    info = json.loads((root / "meta/info.json").read_text())
    assert set(info) == V3_INFO_KEYS
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30 and info["total_episodes"] == 3
    assert info["total_frames"] == sum(e.length for e in episodes) and info["splits"] == {"train": "0:3"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert info["features"][name]["shape"] == [1]
    assert info["features"]["timestamp"]["dtype"] == "float32" and info["features"]["index"]["dtype"] == "int64"
    video = info["features"][F.VIDEO_KEY]
    assert (
        video["dtype"] == "video"
        and video["shape"] == [64, 64, 3]
        and video["names"] == ["height", "width", "channels"]
    )
    assert {
        "video.height",
        "video.width",
        "video.codec",
        "video.pix_fmt",
        "video.fps",
        "video.channels",
        "has_audio",
        "video.is_depth_map",
    } <= set(video["info"])

    table = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet")
    key = F.VIDEO_KEY
    for column in ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                   "dataset_to_index", f"videos/{key}/chunk_index", f"videos/{key}/file_index",
                   f"videos/{key}/from_timestamp", f"videos/{key}/to_timestamp", "meta/episodes/chunk_index",
                   "meta/episodes/file_index", "stats/observation.state/mean", "stats/action/q99"]:  # fmt: skip
        assert column in table.column_names, column
    rows = table.to_pylist()
    assert [r["length"] for r in rows] == [e.length for e in episodes]
    assert rows[1]["dataset_from_index"] == rows[0]["dataset_to_index"] == episodes[0].length
    assert rows[1][f"videos/{key}/from_timestamp"] == pytest.approx(episodes[0].length / 30)
    assert rows[0]["tasks"] == ["pick up the cube 0", "place it in the bowl"]

    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.column_names == ["task_index", "task"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    assert tasks.column("task_index").to_pylist() == list(range(info["total_tasks"]))

    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert set(data.column_names) == {k for k, v in info["features"].items() if v["dtype"] != "video"}
    assert data.column("index").to_pylist() == list(range(info["total_frames"]))

    stats = json.loads((root / "meta/stats.json").read_text())
    for name in ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"):
        assert name in stats[F.STATE]
    assert stats[F.STATE]["count"] == [info["total_frames"]]
    all_state = data.column(F.STATE).combine_chunks().flatten().to_numpy().reshape(-1, 48)
    np.testing.assert_allclose(stats[F.STATE]["mean"], all_state.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats[F.STATE]["std"], all_state.std(0), atol=1e-5)
    np.testing.assert_allclose(stats[F.STATE]["max"], all_state.max(0), atol=1e-6)
    assert np.array(stats[F.VIDEO_KEY]["mean"]).shape == (3, 1, 1)
    assert validate_dataset(root) == []


def test_random_access_by_global_index(small_dataset):
    root, episodes = small_dataset
    ds = Dataset(root)
    item = ds[episodes[0].length + 7]
    assert int(item["episode_index"]) == 1 and int(item["frame_index"]) == 7
    np.testing.assert_array_equal(item[F.KEYPOINTS].reshape(2, 21, 3), episodes[1].keypoints_world[7])
    assert item["task"] == "pick up the cube 1" and item[F.VIDEO_KEY].shape == (64, 64, 3)


def test_files_roll_over_and_writer_resumes(tmp_path):
    root = tmp_path / "roll"
    with DatasetWriter(root, data_files_size_in_mb=0.01, video_files_size_in_mb=0.001) as writer:
        for i in range(2):
            writer.add_episode(synthetic_episode(20, seed=i))
    with DatasetWriter(root, data_files_size_in_mb=0.01, video_files_size_in_mb=0.001) as writer:
        assert writer.total_episodes == 2
        writer.add_episode(synthetic_episode(25, seed=5))
    assert len(list((root / "data").rglob("*.parquet"))) == 3
    assert len(list((root / "videos").rglob("*.mp4"))) == 3
    ds = Dataset(root)
    assert ds.num_episodes == 3 and list(ds.episode_lengths) == [20, 20, 25]
    np.testing.assert_array_equal(
        ds.episode(2, frames=False).keypoints_world, synthetic_episode(25, seed=5).keypoints_world
    )
    assert validate_dataset(root) == []


def test_streaming_frames_then_commit(tmp_path):
    ep = synthetic_episode(12, seed=3)
    with DatasetWriter(tmp_path / "s") as writer:
        for t in range(ep.length):
            writer.add_frame(keypoints_world=ep.keypoints_world[t], hand_valid=ep.hand_valid[t], world_from_camera=ep.world_from_camera[t],
                             intrinsics=ep.intrinsics, frame=ep.frames[t])  # fmt: skip
        writer.commit_episode(instructions=[(0, 12, "wave")], source="sim", embodiment="h1_inspire")
    back = Dataset(tmp_path / "s").episode(0)
    np.testing.assert_array_equal(back.keypoints_world, ep.keypoints_world)
    assert back.instructions == [(0, 12, "wave")] and back.embodiment == "h1_inspire"


def test_robot_episodes_carry_robot_state_and_action(tmp_path):
    ep = synthetic_episode(15, seed=1)
    ep.robot_state = np.random.default_rng(0).normal(size=(15, 7)).astype(np.float32)
    ep.robot_action = np.random.default_rng(1).normal(size=(15, 5)).astype(np.float32)
    ep.robot_state_names = [f"q{i}" for i in range(7)]
    with DatasetWriter(tmp_path / "r", robot_type="h1_inspire") as writer:
        writer.add_episode(ep)
        with pytest.raises(InputError, match="robot_state"):
            writer.add_episode(synthetic_episode(10))  # the dataset declares robot features
    ds = Dataset(tmp_path / "r")
    assert ds.features[F.ROBOT_STATE]["names"] == ep.robot_state_names
    back = ds.episode(0, frames=False)
    np.testing.assert_array_equal(back.robot_state, ep.robot_state)
    np.testing.assert_array_equal(back.robot_action, ep.robot_action)


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda e: e.world_from_camera.__setitem__((3, 0, 3), np.nan), "world_from_camera"),
        (lambda e: e.keypoints_world.__setitem__((4, 1, 8, 0), np.nan), "keypoints_world"),
        (lambda e: setattr(e, "hand_valid", e.hand_valid[:-1]), "hand_valid"),
        (lambda e: setattr(e, "frames", e.frames[:-2]), "frames"),
        (lambda e: setattr(e, "instructions", [(0, 10, "a"), (5, 12, "b")]), "instructions[1]"),
    ],
)
def test_bad_episodes_raise_one_clear_error_and_keep_the_dataset(tmp_path, change, field):
    root = tmp_path / "bad"
    with DatasetWriter(root) as writer:
        writer.add_episode(synthetic_episode(12, seed=0))
        bad = synthetic_episode(12, seed=1)
        change(bad)
        with pytest.raises(InputError) as err:
            writer.add_episode(bad)
        assert err.value.field == field and "episode 1" in str(err.value)
    assert Dataset(root).num_episodes == 1 and validate_dataset(root) == []
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name]


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode
    writer = DatasetWriter(sys.argv[1])
    for i in range(2):
        writer.add_episode(synthetic_episode(20, seed=i))
    ep = synthetic_episode(30, seed=9)
    for t in range(ep.length):
        writer.add_frame(keypoints_world=ep.keypoints_world[t], hand_valid=ep.hand_valid[t],
                         world_from_camera=ep.world_from_camera[t], intrinsics=ep.intrinsics, frame=ep.frames[t])
    print("READY", flush=True)
    time.sleep(60)
    """
)


def test_killed_writer_leaves_committed_episodes_intact(tmp_path):
    root = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert validate_dataset(root) == []
    ds = Dataset(root)
    assert ds.num_episodes == 2
    np.testing.assert_array_equal(
        ds.episode(1, frames=False).keypoints_world, synthetic_episode(20, seed=1).keypoints_world
    )
    assert ds.frames(1, [0, 19]).shape == (2, 64, 64, 3)
    with DatasetWriter(root) as writer:  # continues the dataset
        assert writer.add_episode(synthetic_episode(10, seed=4)) == 2
    assert Dataset(root).num_episodes == 3 and validate_dataset(root) == []


def test_truncated_video_and_missing_parquet_are_reported(tmp_path, small_dataset):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(small_dataset[0], root)
    video = root / "videos" / F.VIDEO_KEY / "chunk-000/file-000.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    problems = validate_dataset(root)
    assert any(p.path == str(video) and p.field == F.VIDEO_KEY for p in problems)
    with pytest.raises(InputError) as err:
        Dataset(root).frames(2, [30])
    assert str(video) in str(err.value) and err.value.field == F.VIDEO_KEY

    data = root / "data/chunk-000/file-000.parquet"
    data.unlink()
    assert any(p.path == str(data) for p in validate_dataset(root))
    with pytest.raises(InputError, match="missing parquet"):
        Dataset(root).episode_columns(0)


def test_unknown_feature_column_is_rejected(tmp_path, small_dataset):
    import shutil

    import pyarrow as pa

    root = tmp_path / "unknown"
    shutil.copytree(small_dataset[0], root)
    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.append_column("observation.mystery", pa.array(np.zeros(table.num_rows, np.float32))), path)
    with pytest.raises(InputError) as err:
        Dataset(root).episode_columns(0)
    assert err.value.field == "observation.mystery"
    assert any(p.field == "observation.mystery" for p in validate_dataset(root))


def test_one_embodiment_per_dataset_unless_declared_mixed(tmp_path):
    import dataclasses

    robot = dataclasses.replace(synthetic_episode(10, seed=0), embodiment="h1_inspire")
    with DatasetWriter(tmp_path / "one") as writer:
        writer.add_episode(robot)
        with pytest.raises(InputError) as err:
            writer.add_episode(synthetic_episode(10, seed=1))  # a human episode
        assert err.value.field == "embodiment" and "'human'" in str(err.value) and "'h1_inspire'" in str(err.value)
    assert json.loads((tmp_path / "one/meta/info.json").read_text())["embodiment"] == "h1_inspire"
    with DatasetWriter(tmp_path / "one") as writer:  # the declaration holds for a resumed writer too
        with pytest.raises(InputError, match="embodiment"):
            writer.add_episode(synthetic_episode(10, seed=1))
    assert Dataset(tmp_path / "one").num_episodes == 1 and validate_dataset(tmp_path / "one") == []

    with DatasetWriter(tmp_path / "mixed", mixed=True) as writer:
        writer.add_episode(robot)
        writer.add_episode(synthetic_episode(10, seed=1))
    ds = Dataset(tmp_path / "mixed")
    assert [ds.episode_meta(i)["embodiment"] for i in range(2)] == ["h1_inspire", "human"]
    assert ds.info["embodiment"] == "mixed" and validate_dataset(tmp_path / "mixed") == []
