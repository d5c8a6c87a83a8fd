"""Episode publish is atomic as a whole: a writer killed before any rename of a commit leaves a valid dataset
with the previous episodes exactly as they were, or one with all of the new episode; the next writer continues.

The kill is injected before each rename of the commit (``DatasetWriter.publish_hook``): in-process by an
exception that nothing catches (no cleanup runs, as with SIGKILL), and once by a real SIGKILL of a writer process.

LeRobot's own loader ignores the manifest for its tables: it reads every data and episodes parquet file whole
(and only its length and episode count from ``meta/info.json``). At every kill point, what it reads that way must
never point at something missing (``_check_lerobot_reading``); the real loader is run on the same kill points in
``tests/sources/test_sources_lerobot_interop.py`` (slow, needs lerobot).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dexego.data import Dataset, DatasetWriter
from dexego.data import features as F
from dexego.data.layout import TMP_MARK
from dexego.data.synthetic import synthetic_episode
from dexego.data.validate import validate_dataset, validate_report
from dexego.data.video import probe_video

SIZE = (32, 32)
STEPS = ("video", "tasks", "data", "episodes table", "info.json (commit)", "stats.json")
ROLL = {"data_files_size_in_mb": 0.001, "video_files_size_in_mb": 0.001}  # every episode starts new files


class Killed(BaseException):
    """Raised by the fault hook: nothing in the writer catches a BaseException it does not know (like SIGKILL)."""


def _kind(path) -> str:
    """Which of STEPS a published path is."""
    if path.suffix == ".mp4":
        return "video"
    if path.name == "tasks.parquet":
        return "tasks"
    if "episodes" in path.parts:
        return "episodes table"
    if "data" in path.parts:
        return "data"
    return {"info.json": "info.json (commit)", "stats.json": "stats.json"}[path.name]


def _read_all(folder) -> pa.Table:
    """Every parquet file of a folder read whole, in path order (LeRobot 0.4.4's ``load_nested_dataset``)."""
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("*/*.parquet"))], promote_options="default")


def _check_lerobot_reading(root, previous_root, committed: bool) -> None:
    """What a reader that globs every data and episodes file sees is consistent and, within the manifest's counts,
    the previous dataset (or, once committed, the new one)."""
    info = json.loads((root / "meta/info.json").read_text())
    data, episodes = _read_all(root / "data"), _read_all(root / "meta/episodes").to_pylist()
    tasks = pq.read_table(root / "meta/tasks.parquet").column("task").to_pylist()
    index, episode_index = data.column("index").to_numpy(), data.column("episode_index").to_numpy()
    assert int(data.column("task_index").to_numpy().max()) < len(tasks)  # every row's task is published
    for row in episodes:  # every episode row points at published rows, frames and tasks
        span = np.arange(row["dataset_from_index"], row["dataset_to_index"])
        rows = np.flatnonzero(np.isin(index, span))
        assert len(rows) == row["length"] == len(span) and (episode_index[rows] == row["episode_index"]).all(), row
        assert set(row["tasks"]) <= set(tasks)
        for key in F.video_keys(info["features"]):
            video = root / "videos" / key / (f"chunk-{row[f'videos/{key}/chunk_index']:03d}/"
                                             f"file-{row[f'videos/{key}/file_index']:03d}.mp4")  # fmt: skip
            assert probe_video(video, info["fps"], key).frames >= round(row[f"videos/{key}/to_timestamp"] * info["fps"])
    # LeRobot's length and episode count are the manifest's; the rows it serves (the first total_frames)
    served = data.slice(0, info["total_frames"])
    assert len(episodes) in (info["total_episodes"], info["total_episodes"] + 1)  # at most the complete new one
    if committed:
        assert info["total_episodes"] == 3 and served.num_rows == data.num_rows == 65 and len(episodes) == 3
    else:
        assert served.equals(_read_all(previous_root / "data")) and info["total_episodes"] == 2
        assert [r["episode_index"] for r in episodes][:2] == [0, 1]


def _new_episode():
    return synthetic_episode(
        25, size=SIZE, seed=7, instructions=[(0, 10, "a task never seen"), (10, 25, "place it in the bowl")]
    )


def _snapshot(root, episodes) -> list[dict]:
    ds = Dataset(root)
    out = []
    for ep in episodes:
        cols = {k: v.copy() for k, v in ds.episode_columns(ep).items()}
        cols["frames"] = ds.frames(ep, np.arange(int(ds.episode_lengths[ep])))
        cols["meta"] = ds.episode_meta(ep)
        cols["tasks"] = [ds.tasks[int(t)] for t in cols[F.TASK_INDEX]]
        out.append(cols)
    return out


def _assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], np.ndarray):
                np.testing.assert_array_equal(x[key], y[key], err_msg=key)
            else:
                assert x[key] == y[key], key


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    roots = {}
    for roll in (False, True):
        root = tmp_path_factory.mktemp("publish") / f"base-{roll}"
        with DatasetWriter(root, **(ROLL if roll else {})) as writer:
            for seed in range(2):
                writer.add_episode(synthetic_episode(20, size=SIZE, seed=seed))
        roots[roll] = (root, _snapshot(root, [0, 1]))
    return roots


CASES = [(step, False) for step in range(len(STEPS) + 1)] + [
    (STEPS.index(s), True) for s in ("video", "data", "info.json (commit)")
]


@pytest.mark.parametrize("step, roll", CASES, ids=[f"{'new-files' if r else 'append'}-" + (f"before-{STEPS[s]}" if s < len(STEPS) else "after-all")
                                                   for s, r in CASES])  # fmt: skip
def test_kill_at_every_publish_step(base, tmp_path, step, roll):
    source, before = base[roll]
    root = tmp_path / "ds"
    shutil.copytree(source, root)
    writer = DatasetWriter(root, **(ROLL if roll else {}))

    published = []

    def hook(index, path):
        if index == step:
            raise Killed(path)
        published.append(_kind(path))

    writer.publish_hook = hook
    if step < len(STEPS):
        with pytest.raises(Killed):
            writer.add_episode(_new_episode())
    else:
        writer.add_episode(_new_episode())
    del writer  # never closed: the process died
    assert tuple(published) == STEPS[:step]  # the writer publishes in this order

    committed = step > STEPS.index("info.json (commit)")
    report = validate_report(root)
    assert report.errors == [], [str(p) for p in report.errors]
    _check_lerobot_reading(root, source, committed)
    ds = Dataset(root)
    assert ds.num_episodes == (3 if committed else 2)
    _assert_same(_snapshot(root, [0, 1]), before)  # the previous episodes read back identically
    assert int(ds.stats[F.ACTION]["count"][0]) == ds.num_frames  # stale statistics are recomputed
    if committed:
        back = ds.episode(2, frames=False)
        np.testing.assert_array_equal(back.keypoints_world, _new_episode().keypoints_world)
        assert back.instructions == _new_episode().instructions

    with DatasetWriter(root, **(ROLL if roll else {})) as writer:  # the next writer continues the dataset
        if not committed:
            assert writer.add_episode(_new_episode()) == 2
        writer.add_episode(synthetic_episode(15, size=SIZE, seed=9))
    assert validate_report(root) == [] and not [p for p in root.rglob(f"*{TMP_MARK}*")]
    ds = Dataset(root)
    assert ds.num_episodes == 4 and list(ds.episode_lengths) == [20, 20, 25, 15]
    _assert_same(_snapshot(root, [0, 1]), before)


_SIGKILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode
    writer = DatasetWriter(sys.argv[1])
    writer.publish_hook = lambda step, path: os.kill(os.getpid(), signal.SIGKILL) if step == int(sys.argv[2]) else None
    writer.add_episode(synthetic_episode(25, size=(32, 32), seed=7))
    """
)


def test_sigkill_between_the_data_and_the_manifest(base, tmp_path):
    source, before = base[False]
    root = tmp_path / "ds"
    shutil.copytree(source, root)
    step = STEPS.index("info.json (commit)")  # the data file already holds the new rows
    proc = subprocess.run(
        [sys.executable, "-c", _SIGKILL_SCRIPT, str(root), str(step)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [p for p in root.rglob(f"*{TMP_MARK}*")]  # the kill left temporaries (info.json, stats.json)
    report = validate_report(root)
    assert report.errors == [] and any("interrupted write" in p.message for p in report.warnings)
    assert Dataset(root).num_episodes == 2
    _assert_same(_snapshot(root, [0, 1]), before)
    with DatasetWriter(root) as writer:
        assert writer.add_episode(synthetic_episode(25, size=SIZE, seed=7)) == 2
    assert validate_dataset(root) == [] and Dataset(root).num_episodes == 3
    assert os.listdir(root / "meta") and not [p for p in root.rglob(f"*{TMP_MARK}*")]
