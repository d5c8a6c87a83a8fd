"""LeRobot robot datasets (v2.1 or v3.0 layout, read with :class:`dexego.data.reader.Dataset`).

One episode per LeRobot episode:

- ``observation.state`` and ``action`` become the Episode's ``robot_state`` /
  ``robot_action`` (float32, stored as ``observation.robot.state`` /
  ``action.robot``), with the feature's ``names`` (a list, or a dict of lists
  such as ``{"motors": [...]}``, flattened).
- frames come from the first video key, or the one chosen with ``--camera``.
- instructions are the dataset's tasks: each run of equal ``task_index`` is a segment.
- hands: with ``--robot ROBOT.yaml --map MAP.toml`` (:mod:`dexego.sources.lerobot_robot`) the
  mapped joints give each frame's hands by forward kinematics (21 keypoints, ``ego48``) and the
  joint columns are stored in radians under the robot's joint names; without them both hands are
  invalid (NaN keypoints, ``hand_valid`` False) and ``observation.state`` (ego48) is zero.
- camera: the map's camera pose (``base_from_camera``, or the description's camera) and
  intrinsics; otherwise the camera pose is the identity and the intrinsics a centred pinhole
  with ``ASSUMED_FOV_X_DEG``, and the episode metadata marks them as assumed.

Camera images stored inside the parquet files ("image" features) are not read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dexego.data import Episode
from dexego.data import features as dexego_features
from dexego.data.meta import read_info
from dexego.data.reader import Dataset
from dexego.errors import ConfigError, InputError
from dexego.geometry import Intrinsics
from dexego.sources.base import SequenceRef, SourceOptions, labelled_instructions, placeholder_instructions, truncate

NAME = "lerobot"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
# A typical robot-arm camera (Intel RealSense D435 colour: about 69 x 42 degrees); an assumption, never measured.
ASSUMED_FOV_X_DEG = 69.4

_open: dict[tuple[str, int], Dataset] = {}


def _dataset(root: Path) -> Dataset:
    """One reader per dataset and process (re-opened when meta/info.json changes)."""
    key = (str(Path(root).resolve()), (Path(root) / "meta" / "info.json").stat().st_mtime_ns)
    if key not in _open:
        _open.clear()
        _open[key] = Dataset(root)
    return _open[key]


def _check_supported(root: Path, info: dict) -> None:
    features = info.get("features", {})
    if dexego_features.KEYPOINTS in features:
        raise ConfigError(f"{root} is already a dexego dataset (it has {dexego_features.KEYPOINTS})")
    images = [k for k, v in features.items() if v.get("dtype") == "image"]
    if images:
        raise ConfigError(
            f"{root}: camera images stored inside the parquet files ({', '.join(images)}) "
            "are not supported; only 'video' features are read"
        )


def find_sequences(root: Path) -> list[SequenceRef]:
    root = Path(root)
    if not (root / "meta" / "info.json").is_file():
        return []
    _check_supported(root, read_info(root))
    ds = _dataset(root)
    name = root.resolve().name
    refs = []
    for i in range(ds.num_episodes):
        episode_index = int(ds.episode_row(i)["episode_index"])
        extra = {"position": i, "episode_index": episode_index}
        refs.append(SequenceRef(f"{name}/episode_{episode_index:06d}", root, extra))
    return refs


def dataset_fps(root: Path) -> int:
    return int(read_info(Path(root))["fps"])


def feature_names(feature: dict | None, dim: int) -> list[str] | None:
    """A feature's ``names`` as a flat list of ``dim`` strings (None when absent or of another length)."""
    names = (feature or {}).get("names")
    if isinstance(names, dict):
        names = [x for v in names.values() for x in (v if isinstance(v, list) else [v])]
    if not isinstance(names, list):
        return None
    flat = [str(x) for x in names]
    return flat if len(flat) == dim else None


def task_segments(task_index: np.ndarray, tasks: list[str]) -> list[tuple[int, int, str]]:
    """Runs of equal ``task_index`` -> (start, end_exclusive, task text); runs with no text are left out."""
    task_index = np.asarray(task_index).reshape(-1)
    change = np.flatnonzero(np.diff(task_index)) + 1
    segments = []
    for start, end in zip(np.r_[0, change], np.r_[change, len(task_index)]):
        i = int(task_index[start])
        text = tasks[i].strip() if 0 <= i < len(tasks) and isinstance(tasks[i], str) else ""
        if text:
            segments.append((int(start), int(end), text))
    return segments


def _vectors(cols: dict, key: str, n: int, where: Path) -> np.ndarray | None:
    if key not in cols:
        return None
    values = np.asarray(cols[key])
    try:
        return values.reshape(len(values), -1)[:n].astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(where, key, f"not numeric vectors: {exc}") from None


def camera_key(ds: Dataset, chosen: str | None) -> str | None:
    if chosen is None:
        return ds.video_keys[0] if ds.video_keys else None
    if chosen not in ds.video_keys:
        keys = ", ".join(ds.video_keys) or "none"
        raise ConfigError(f"--camera {chosen}: not a video key of {ds.root}; its video keys: {keys}")
    return chosen


_kinematics: dict[tuple[str, str], object] = {}


def robot_kinematics(options: SourceOptions):
    """The robot description + joint map of ``--robot`` / ``--map`` (one per process), or None."""
    from dexego.sources.lerobot_robot import RobotKinematics, read_map, require

    require(options)
    if not options.robot:
        return None
    key = (str(options.robot), str(options.joint_map))
    if key not in _kinematics:
        _kinematics[key] = RobotKinematics(str(options.robot), read_map(options.joint_map))
    return _kinematics[key]


def check_options(root: Path, options: SourceOptions) -> None:
    """Before converting anything: the joint map fits the robot and the dataset's columns."""
    kinematics = robot_kinematics(options)
    if kinematics is not None:
        kinematics.check_columns(read_info(Path(root)).get("features", {}), Path(root))
        if kinematics.map.camera_key:
            camera_key(_dataset(Path(root)), kinematics.map.camera_key)


def load(ref: SequenceRef, options: SourceOptions) -> Episode:
    ds = _dataset(ref.path)
    position = int(ref.extra["position"])
    kinematics = robot_kinematics(options)
    if kinematics is not None:
        kinematics.check_columns(ds.features, ref.path)
    key = camera_key(ds, (kinematics.map.camera_key if kinematics is not None else None) or options.camera)
    cols = ds.episode_columns(position)
    n = truncate(len(cols["frame_index"]), options)
    state = _vectors(cols, STATE_KEY, n, ref.path)
    action = _vectors(cols, ACTION_KEY, n, ref.path)
    frames = ds.frames(position, np.arange(n), key) if key else None
    if frames is not None:
        intr = Intrinsics.from_fov(math.radians(ASSUMED_FOV_X_DEG), frames.shape[2], frames.shape[1])
    else:
        shape = ds.features.get(key or "", {}).get("shape") or [480, 640]
        intr = Intrinsics.from_fov(math.radians(ASSUMED_FOV_X_DEG), int(shape[1]), int(shape[0]))
    segments = task_segments(cols["task_index"][:n], ds.tasks)
    if segments:
        instructions, meta = segments, {"instruction_placeholder": False, "instruction_origin": "tasks"}
        if len(segments) == 1 and segments[0][:2] == (0, n):
            instructions, meta = labelled_instructions(n, segments[0][2], "tasks")
    else:
        instructions, meta = placeholder_instructions(n, "perform the task")
    robot_type = ds.info.get("robot_type")
    state_names = feature_names(ds.features.get(STATE_KEY), state.shape[1]) if state is not None else None
    action_names = feature_names(ds.features.get(ACTION_KEY), action.shape[1]) if action is not None else None
    keypoints = np.full((n, 2, 21, 3), np.nan, dtype=np.float32)
    hand_valid = np.zeros((n, 2), dtype=bool)
    camera_pose, pose_assumed, intr_assumed = np.eye(4), True, True
    robot_meta = {"hand_mapping": None}
    if kinematics is not None:
        state_values = _vectors(cols, kinematics.map.state.column, n, ref.path)
        keypoints, hand_valid = kinematics.hands(state_values.astype(np.float64))
        state, state_names = kinematics.named_column(state_values, kinematics.map.state, feature_names(
            ds.features.get(kinematics.map.state.column), state_values.shape[1]))  # fmt: skip
        action_values = _vectors(cols, kinematics.map.action.column, n, ref.path)
        action, action_names = kinematics.named_column(action_values, kinematics.map.action, feature_names(
            ds.features.get(kinematics.map.action.column), action_values.shape[1]))  # fmt: skip
        camera_pose, pose_assumed = kinematics.base_from_camera()
        width, height = intr.width, intr.height
        if kinematics.map.intrinsics is not None:
            intr, intr_assumed = Intrinsics(*kinematics.map.intrinsics, width=width, height=height), False
        elif kinematics.map.fov_x_deg is not None:
            intr, intr_assumed = Intrinsics.from_fov(math.radians(kinematics.map.fov_x_deg), width, height), False
        robot_meta = {"hand_mapping": f"forward kinematics of {kinematics.robot.name} ({kinematics.file}) with "
                      f"{kinematics.map.path.name}", "robot": kinematics.robot.name}  # fmt: skip
    return Episode(
        keypoints_world=keypoints,
        hand_valid=hand_valid,
        world_from_camera=np.tile(np.asarray(camera_pose, dtype=np.float32), (n, 1, 1)),
        intrinsics=intr,
        frames=frames,
        fps=ds.fps,
        instructions=instructions,
        source=NAME,
        embodiment=robot_type if isinstance(robot_type, str) and robot_type and robot_type != "unknown" else "robot",
        robot_state=state,
        robot_action=action,
        robot_state_names=state_names,
        robot_action_names=action_names,
        metadata={
            "source_id": ref.source_id,
            **meta,
            "lerobot_version": ds.version,
            "lerobot_episode_index": ref.extra["episode_index"],
            "camera_key": key,
            "camera_pose_assumed": pose_assumed,
            "intrinsics_assumed": intr_assumed,
            **(
                {"assumed_intrinsics": f"centred pinhole, {ASSUMED_FOV_X_DEG} deg horizontal field of view"}
                if intr_assumed
                else {}
            ),
            **robot_meta,
        },  # fmt: skip
    )
