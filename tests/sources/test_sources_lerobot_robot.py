"""A LeRobot v3 robot dataset written WITHOUT dexego (plain pyarrow + PyAV, LeRobot's feature names) converts with
``--robot`` / ``--map`` into hands by forward kinematics, trains a fine-tuning stage on the joints, and runs closed loop."""

import json
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sim_robot_data import closed_loop, expert_rollouts, stage, tiny_model

pytestmark = pytest.mark.timeout(600)
FPS = 30
CAMERA = "observation.images.cam_high"
TASK = "push the box to the target"


def _motor_names():
    # As an ALOHA-style dataset names its motors: its own names, not the robot description's.
    return [f"{side}_motor_{i}" for side in ("l", "r") for i in range(7)] + [
        f"{side}_finger_{i}" for side in ("l", "r") for i in range(6)
    ]


def _encode(path: Path, frames: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_lerobot_v3(root: Path, rollouts: list[dict]) -> None:
    """LeRobot v3.0 layout: one data file, one video file per camera, meta/episodes with offsets; joints in degrees."""
    names = _motor_names()
    states = [np.degrees(r["robot_state"]).astype(np.float32) for r in rollouts]
    actions = [np.concatenate([s[1:], s[-1:]]) for s in states]  # joint targets: the next state
    total = sum(len(s) for s in states)
    vec = {"dtype": "float32", "shape": [26], "names": {"motors": names}, "fps": FPS}
    scalar = lambda dtype: {"dtype": dtype, "shape": [1], "names": None, "fps": FPS}  # noqa: E731
    size = rollouts[0]["frames"].shape[1]
    info = {
        "codebase_version": "v3.0", "robot_type": "aloha_like", "total_episodes": len(rollouts), "total_frames": total,
        "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500, "fps": FPS,
        "splits": {"train": f"0:{len(rollouts)}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": {
            CAMERA: {"dtype": "video", "shape": [size, size, 3], "names": ["height", "width", "channels"],
                     "info": {"video.height": size, "video.width": size, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                              "video.is_depth_map": False, "video.fps": FPS, "video.channels": 3, "has_audio": False}},
            "observation.state": vec, "action": dict(vec), "timestamp": scalar("float32"), "frame_index": scalar("int64"),
            "episode_index": scalar("int64"), "index": scalar("int64"), "task_index": scalar("int64"),
        },
    }  # fmt: skip
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (root / "data" / "chunk-000").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    pq.write_table(pa.table({"task": [TASK], "task_index": pa.array([0], pa.int64())}), root / "meta" / "tasks.parquet")
    vector = pa.list_(pa.float32(), 26)
    lengths = [len(s) for s in states]
    pq.write_table(pa.table({
        "observation.state": pa.array(list(np.concatenate(states)), vector),
        "action": pa.array(list(np.concatenate(actions)), vector),
        "timestamp": pa.array(np.concatenate([np.arange(n) / FPS for n in lengths]).astype(np.float32)),
        "frame_index": pa.array(np.concatenate([np.arange(n) for n in lengths]), pa.int64()),
        "episode_index": pa.array(np.concatenate([[e] * n for e, n in enumerate(lengths)]), pa.int64()),
        "index": pa.array(np.arange(total), pa.int64()),
        "task_index": pa.array(np.zeros(total), pa.int64()),
    }), root / "data" / "chunk-000" / "file-000.parquet")  # fmt: skip
    _encode(root / "videos" / CAMERA / "chunk-000" / "file-000.mp4", np.concatenate([r["frames"] for r in rollouts]))
    rows, start = [], 0
    for e, n in enumerate(lengths):
        rows.append({"episode_index": e, "tasks": [TASK], "length": n, "data/chunk_index": 0, "data/file_index": 0,
                     "dataset_from_index": start, "dataset_to_index": start + n,
                     f"videos/{CAMERA}/chunk_index": 0, f"videos/{CAMERA}/file_index": 0,
                     f"videos/{CAMERA}/from_timestamp": start / FPS, f"videos/{CAMERA}/to_timestamp": (start + n) / FPS,
                     "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})  # fmt: skip
        start += n
    pq.write_table(pa.Table.from_pylist(rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    stats = {k: {"min": v.min(0).tolist(), "max": v.max(0).tolist(), "mean": v.mean(0).tolist(), "std": v.std(0).tolist(),
                 "count": [len(v)]} for k, v in (("observation.state", np.concatenate(states)), ("action", np.concatenate(actions)))}  # fmt: skip
    (root / "meta" / "stats.json").write_text(json.dumps(stats))


def _toml_list(values) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def write_map(
    path: Path, joints: list[str], base_from_camera: np.ndarray | None, column: str = "observation.state"
) -> Path:
    lines = ["[state]", f'column = "{column}"', f"joints = {_toml_list(joints)}", 'unit = "deg"', "[action]", 'column = "action"',
             f"joints = {_toml_list(joints)}", 'unit = "deg"', "[camera]", f'key = "{CAMERA}"']  # fmt: skip
    if base_from_camera is not None:
        lines.append(
            "base_from_camera = [" + ", ".join(_toml_list([float(x) for x in row]) for row in base_from_camera) + "]"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def robot_dataset(tmp_path_factory):
    from dexego.retarget.robots import load_robot
    from dexego.sim.env import state_names

    root = tmp_path_factory.mktemp("lerobot_robot")
    rollouts = expert_rollouts(episodes=2, steps=45)
    write_lerobot_v3(root / "aloha_like", rollouts)
    camera = load_robot("h1_inspire").base_from_camera.double().numpy()  # the head camera in the torso frame
    mapping = write_map(root / "map.toml", state_names(), camera)
    return root, rollouts, mapping


@pytest.fixture(scope="module")
def converted(robot_dataset):
    from dexego.cli import main

    root, _, mapping = robot_dataset
    assert (
        main(
            [
                "convert",
                "lerobot",
                str(root / "aloha_like"),
                str(root / "converted"),
                "--robot",
                "h1_inspire",
                "--map",
                str(mapping),
            ]
        )
        == 0
    )
    return root / "converted"


def test_the_dataset_converts_to_hands_by_forward_kinematics(robot_dataset, converted):
    from dexego.actions import keypoints_to_action
    from dexego.data import features as F
    from dexego.data.reader import Dataset

    _, rollouts, _ = robot_dataset
    ds = Dataset(converted)
    assert ds.num_episodes == 2
    for e, rollout in enumerate(rollouts):
        columns = ds.episode_columns(e)
        meta = ds.episode_meta(e)["metadata"]
        assert meta["camera_pose_assumed"] is False and "forward kinematics" in meta["hand_mapping"]
        n = len(rollout["robot_state"])
        assert np.asarray(columns[F.HAND_VALID]).reshape(n, 2).all()
        # ego48 in the camera frame is frame-independent: FK + the map's camera == the simulator's own recording.
        kp = np.asarray(columns[F.KEYPOINTS], dtype=np.float64).reshape(n, 2, 21, 3)
        pose = np.asarray(columns[F.CAMERA_POSE], dtype=np.float64).reshape(n, 4, 4)
        ours = keypoints_to_action(kp, pose, None, "ego48")
        theirs = keypoints_to_action(
            rollout["keypoints_world"].astype(np.float64),
            rollout["world_from_camera"].astype(np.float64),
            None,
            "ego48",
        )
        assert np.abs(ours - theirs).max() < 5e-4  # 0.1 mm seen: joints stored as float32 degrees
        # The joint columns are kept, in radians, named by the robot's joints.
        from dexego.sim.env import state_names

        assert ds.features["observation.robot.state"]["names"] == state_names()
        np.testing.assert_allclose(np.asarray(columns["observation.robot.state"]), rollout["robot_state"], atol=1e-5)


def test_a_missing_or_mis_sized_column_is_one_named_error_and_writes_nothing(robot_dataset, tmp_path, capsys):
    from dexego.cli import main
    from dexego.sim.env import state_names

    root, _, _ = robot_dataset
    source = str(root / "aloha_like")
    cases = [
        (write_map(tmp_path / "missing.toml", state_names(), None, column="observation.joints"), "observation.joints"),
        (write_map(tmp_path / "long.toml", state_names() + [""], None), "long.toml: state.joints: 27 names for column 'observation.state' of 26"),
        (write_map(tmp_path / "short.toml", state_names()[:-1], None), "short.toml: state.joints: the right arm and hand need joint 'right_little_proximal'"),
        (write_map(tmp_path / "typo.toml", ["left_elbow_typo"] + state_names()[1:], None), "'left_elbow_typo' is not a joint of the robot"),
    ]  # fmt: skip
    for i, (mapping, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert main(["convert", "lerobot", source, str(out), "--robot", "h1_inspire", "--map", str(mapping)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()
    assert main(["convert", "lerobot", source, str(tmp_path / "x"), "--robot", "h1_inspire"]) == 2
    assert "--map" in capsys.readouterr().err


def test_without_a_camera_pose_the_camera_is_marked_assumed(robot_dataset, tmp_path, capsys):
    from dexego.cli import main
    from dexego.data.reader import Dataset
    from dexego.sim.env import state_names

    root, _, _ = robot_dataset
    mapping = write_map(tmp_path / "nocam.toml", state_names(), None)
    args = [
        "convert",
        "lerobot",
        str(root / "aloha_like"),
        str(tmp_path / "out"),
        "--robot",
        "h1_inspire",
        "--map",
        str(mapping),
    ]
    assert main([*args, "--max-frames", "10"]) == 0
    meta = Dataset(tmp_path / "out").episode_meta(0)["metadata"]
    assert meta["camera_pose_assumed"] is True and meta["intrinsics_assumed"] is True


def test_a_fine_tuning_stage_on_the_joints_trains_and_runs_in_the_simulator(robot_dataset, converted):
    from dexego.train.build import run_stage
    from dexego.train.config import load_stage_config

    root, _, _ = robot_dataset
    config = stage("finetune", root / "runs" / "joints", [{"path": str(converted)}], tiny_model("robot:h1_inspire"))
    result = run_stage(load_stage_config(config))
    assert result.steps == 3 and np.isfinite(result.last_train_loss)
    run = closed_loop(root / "runs" / "joints" / "final", steps=12)
    assert run["space"] == "robot:h1_inspire" and run["queries"] == 3 and run["solves"] == 0
    assert run["actions"].shape == (12, 30) and np.isfinite(run["actions"]).all()
