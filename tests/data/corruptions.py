"""Corrupted copies of a small dataset: the cases ``test_data_corruptions`` runs through info, validate and train.

Each case is ``(name, corrupt, kind)``: ``corrupt(root)`` damages a copy in place; ``kind`` says
what every reader must do with it:

- ``"meta"``: the metadata is wrong: ``data info``, ``data validate`` and ``train`` refuse it
  (readers stop when they open the dataset);
- ``"values"``: the data files or videos are wrong: ``data info``, ``data validate`` and ``train``
  refuse it (training when it checks the files before its first step);
- ``"warn"``: readers repair it themselves (recomputed statistics, an optional field):
  ``validate`` accepts it with a warning and ``train`` runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dexego.data import DatasetWriter
from dexego.data import features as F
from dexego.data.synthetic import synthetic_episode
from dexego.data.video import encode_video

INFO = "meta/info.json"
STATS = "meta/stats.json"
EPISODES = "meta/episodes/chunk-000/file-000.parquet"
DATA = "data/chunk-000/file-000.parquet"
VIDEO = f"videos/{F.VIDEO_KEY}/chunk-000/file-000.mp4"
SIZE = (32, 32)
LENGTH = 24
EMBODIMENT = "h1_inspire"


def write_base(root: Path) -> Path:
    """Two robot episodes of 24 frames with 32x32 video and robot state/action."""
    rng = np.random.default_rng(0)
    with DatasetWriter(root, robot_type=EMBODIMENT) as writer:
        for seed in range(2):
            episode = synthetic_episode(LENGTH, size=SIZE, seed=seed)
            episode = dataclasses.replace(
                episode, embodiment=EMBODIMENT, source="sim",
                robot_state=rng.normal(size=(LENGTH, 5)).astype(np.float32),
                robot_action=rng.normal(size=(LENGTH, 4)).astype(np.float32),
            )  # fmt: skip
            writer.add_episode(episode)
    return root


# ---------------------------------------------------------------- editing helpers
def edit_json(relative: str, change):
    def corrupt(root: Path) -> None:
        path = root / relative
        data = json.loads(path.read_text())
        result = change(data)  # edits in place (returns None) or returns the replacement
        path.write_text(json.dumps(data if result is None else result))

    return corrupt


def edit_table(relative: str, change):
    def corrupt(root: Path) -> None:
        path = root / relative
        pq.write_table(change(pq.read_table(path)), path)

    return corrupt


def set_column(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, array)


def values(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type):
        return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1).copy()
    return column.to_numpy(zero_copy_only=False).copy()


def fixed(array: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(array.reshape(-1)), array.shape[1])


def edit_values(name: str, change):
    """Change a numeric column of the data file (``change(array)`` edits in place)."""

    def apply(table):
        array = values(table, name)
        change(array)
        return set_column(table, name, fixed(array) if array.ndim == 2 else pa.array(array))

    return edit_table(DATA, apply)


def drop_column(relative: str, name: str):
    return edit_table(relative, lambda t: t.drop_columns([name]))


def garble_video(root: Path) -> None:
    path = root / VIDEO
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    start = len(data) // 3
    data[start : start + 1500] = rng.integers(0, 256, 1500, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def truncate_video(root: Path) -> None:
    path = root / VIDEO
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def reencode_video(size: tuple[int, int]):
    def corrupt(root: Path) -> None:
        frames = np.stack([synthetic_episode(LENGTH, size=size, seed=s).frames for s in range(2)]).reshape(
            2 * LENGTH, *size, 3
        )
        encode_video(root / VIDEO, frames, 30)

    return corrupt


def uneven_rows(root: Path) -> None:
    path = root / DATA
    table = pq.read_table(path)
    rows = values(table, F.ACTION).tolist()
    rows[5] = rows[5][:-1]
    rows[6] = rows[6] + [0.0]
    pq.write_table(set_column(table, F.ACTION, pa.array(rows, pa.list_(pa.float32()))), path)


def keypoints_125(root: Path) -> None:
    path = root / DATA
    table = pq.read_table(path)
    kp = values(table, F.KEYPOINTS)[:, :125]
    pq.write_table(set_column(table, F.KEYPOINTS, fixed(kp)), path)


def string_action(root: Path) -> None:
    path = root / DATA
    table = pq.read_table(path)
    pq.write_table(set_column(table, F.ACTION, pa.array([str(v) for v in values(table, F.ACTION).tolist()])), path)


def action_47(root: Path) -> None:
    path = root / DATA
    table = pq.read_table(path)
    pq.write_table(set_column(table, F.ACTION, fixed(values(table, F.ACTION)[:, :47])), path)


def set_embodiment(index: int, name: str):
    def change(table):
        rows = table.column("embodiment").to_pylist()
        rows[index] = name
        return set_column(table, "embodiment", pa.array(rows, pa.string()))

    return edit_table(EPISODES, change)


def set_item(*keys_and_value):
    *keys, value = keys_and_value

    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def delete_item(*keys):
    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _drop_bookkeeping_statistics(stats: dict) -> None:
    for name in F.DEFAULT_FEATURES:  # timestamp, frame_index, episode_index, index, task_index
        stats.pop(name)


def _nan_at(index, value=np.nan):
    def change(array):
        array[index] = value

    return change


CASES = [
    # info.json
    ("info_not_json", lambda root: (root / INFO).write_bytes(b"\x00\x01binary"), "meta"),
    ("info_missing", lambda root: (root / INFO).unlink(), "meta"),
    ("codebase_version_v9", edit_json(INFO, set_item("codebase_version", "v9.0")), "meta"),
    ("feature_without_dtype", edit_json(INFO, delete_item("features", F.ACTION, "dtype")), "meta"),
    ("feature_not_a_mapping", edit_json(INFO, set_item("features", F.ACTION, 5)), "meta"),
    ("features_a_list", edit_json(INFO, set_item("features", ["action"])), "meta"),
    ("features_a_string", edit_json(INFO, set_item("features", "action")), "meta"),
    ("feature_unknown_dtype", edit_json(INFO, set_item("features", F.ACTION, "dtype", "float33")), "meta"),
    ("feature_wrong_shape", edit_json(INFO, set_item("features", F.ACTION, "shape", [47])), "meta"),
    ("video_wrong_shape", edit_json(INFO, set_item("features", F.VIDEO_KEY, "shape", [48, 48, 3])), "meta"),
    ("fps_null", edit_json(INFO, set_item("fps", None)), "meta"),
    ("fps_thirty", edit_json(INFO, set_item("fps", "thirty")), "meta"),
    ("fps_zero", edit_json(INFO, set_item("fps", 0)), "meta"),
    ("fps_float", edit_json(INFO, set_item("fps", 29.97)), "meta"),
    ("fps_wrong_integer", edit_json(INFO, set_item("fps", 15)), "meta"),
    ("total_episodes_string", edit_json(INFO, set_item("total_episodes", "2")), "meta"),
    ("total_frames_wrong", edit_json(INFO, set_item("total_frames", 50)), "meta"),
    ("missing_default_feature", edit_json(INFO, delete_item("features", "frame_index")), "meta"),
    # episodes table and tasks
    ("episodes_without_episode_index", drop_column(EPISODES, "episode_index"), "meta"),
    ("episodes_without_length", drop_column(EPISODES, "length"), "meta"),
    (
        "episodes_length_wrong",
        edit_table(EPISODES, lambda t: set_column(t, "length", pa.array([LENGTH, LENGTH + 3]))),
        "meta",
    ),
    ("episodes_table_missing", lambda root: (root / EPISODES).unlink(), "meta"),
    ("tasks_missing", lambda root: (root / "meta/tasks.parquet").unlink(), "meta"),
    ("human_episode_in_robot_dataset", set_embodiment(1, "human"), "meta"),
    # data values
    ("nan_action", edit_values(F.ACTION, _nan_at((3, 4))), "values"),
    ("inf_state", edit_values(F.STATE, _nan_at((30, 0), np.inf)), "values"),
    ("nan_intrinsics", edit_values(F.INTRINSICS, _nan_at((2, 0))), "values"),
    ("nan_camera_pose", edit_values(F.CAMERA_POSE, _nan_at((2, 3))), "values"),
    ("nan_robot_action", edit_values(F.ROBOT_ACTION, _nan_at((40, 1))), "values"),
    ("nan_keypoints_of_a_valid_hand", edit_values(F.KEYPOINTS, _nan_at((7, 0))), "values"),
    ("keypoints_1e30", edit_values(F.KEYPOINTS, _nan_at((9, 5), 1e30)), "values"),
    ("zero_focal_length", edit_values(F.INTRINSICS, _nan_at((1, 1), 0.0)), "values"),
    ("nan_timestamp", edit_values(F.TIMESTAMP, _nan_at(4)), "values"),
    (
        "reversed_timestamps",
        edit_values(F.TIMESTAMP, lambda a: a.__setitem__(slice(0, LENGTH), a[:LENGTH][::-1].copy())),
        "values",
    ),
    ("task_index_out_of_range", edit_values(F.TASK_INDEX, _nan_at(3, 99)), "values"),
    ("action_47_values", action_47, "values"),
    ("keypoints_125_values", keypoints_125, "values"),
    ("action_strings", string_action, "values"),
    ("rows_of_uneven_length", uneven_rows, "values"),
    ("declared_column_missing", drop_column(DATA, F.INTRINSICS), "values"),
    (
        "unknown_column",
        edit_table(DATA, lambda t: t.append_column("mystery", pa.array(np.zeros(t.num_rows)))),
        "values",
    ),
    ("data_file_missing", lambda root: (root / DATA).unlink(), "values"),
    ("video_other_resolution", reencode_video((48, 48)), "values"),
    ("video_garbled", garble_video, "values"),
    ("video_truncated", truncate_video, "values"),
    ("video_missing", lambda root: (root / VIDEO).unlink(), "values"),
    # repaired by readers: warnings
    ("stats_missing", lambda root: (root / STATS).unlink(), "warn"),
    ("stats_zero_std", edit_json(STATS, lambda s: s[F.ACTION].__setitem__("std", [0.0] * 48)), "warn"),
    ("stats_without_bookkeeping_columns", edit_json(STATS, _drop_bookkeeping_statistics), "warn"),
    ("splits_missing", edit_json(INFO, delete_item("splits")), "warn"),
]
