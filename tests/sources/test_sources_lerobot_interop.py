"""dexego datasets and LeRobot's own tools (lerobot 0.4.4).

- A LeRobot v3.0 dataset written by plain pyarrow code (not dexego's writer), without statistics
  for the bookkeeping columns, the video or anything else: ``validate`` warns and passes, readers
  recompute the statistics.
- dexego's per-episode metadata (source, embodiment, fps, instructions, metadata) survives
  LeRobot's ``delete_episodes`` and ``split_dataset``: they rewrite the episodes table with their
  own columns only, but keep every data column, and dexego stores the same record per row in
  ``episode.dexego``. The default run reproduces their rewrite of the episodes table (the columns
  ``_copy_and_reindex_episodes_metadata`` in lerobot/datasets/dataset_tools.py keeps); the slow
  tests run the real tools in a separate environment (lerobot pins torch < 2.11):

      python -m venv /work/venvs/lerobot && /work/venvs/lerobot/bin/pip install lerobot==0.4.4
      DEXEGO_LEROBOT_PYTHON=/work/venvs/lerobot/bin/python pytest -m slow tests/sources/test_sources_lerobot_interop.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dexego_lerobot_fixture import make_episodes, write_lerobot_v30

from dexego.data import Dataset, DatasetWriter
from dexego.data import features as F
from dexego.data.synthetic import synthetic_episode
from dexego.data.validate import validate_report

LEROBOT_PYTHON = os.environ.get("DEXEGO_LEROBOT_PYTHON", "")
# The columns lerobot 0.4.4's delete_episodes/split_dataset write per episode (dataset_tools.py):
# episode_index, tasks, length, the data and video locations, the episodes-file location, stats/*.
LEROBOT_EPISODE_COLUMNS = ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                           "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index")  # fmt: skip


def _write_dexego(root: Path, count: int = 3) -> list:
    episodes = []
    with DatasetWriter(root) as writer:
        for i in range(count):
            episode = dataclasses.replace(synthetic_episode(20, size=(32, 32), seed=i), source=f"take{i}",
                                          metadata={"seed": i, "subject": f"s{i % 2}"})  # fmt: skip
            writer.add_episode(episode)
            episodes.append(episode)
    return episodes


def _meta(ds: Dataset) -> list[dict]:
    return [ds.episode_meta(i) for i in range(ds.num_episodes)]


def test_plain_pyarrow_v3_dataset_without_bookkeeping_statistics_validates_with_warnings(tmp_path):
    root = tmp_path / "plain"
    write_lerobot_v30(root, make_episodes([12, 9]))
    stats = json.loads((root / "meta/stats.json").read_text())
    assert not set(F.DEFAULT_FEATURES) & set(stats)  # LeRobot loads such datasets
    report = validate_report(root)
    assert report.errors == [], [str(p) for p in report.errors]
    warned = {p.field for p in report.warnings}
    assert set(F.DEFAULT_FEATURES) <= warned
    ds = Dataset(root)
    for name in F.DEFAULT_FEATURES:  # recomputed from the data
        assert int(ds.stats[name]["count"][0]) == ds.num_frames
    np.testing.assert_allclose(ds.stats["observation.state"]["mean"], stats["observation.state"]["mean"])
    assert int(ds.stats[F.FRAME_INDEX]["max"][0]) == 11


def _lerobot_rewrite(root: Path, keep: list[int]) -> None:
    """What delete_episodes does to the metadata of the episodes kept, in place: the episodes table keeps only
    LeRobot's columns (renumbered), info.json only LeRobot's keys; data rows are filtered and renumbered."""
    info = json.loads((root / "meta/info.json").read_text())
    info.pop("embodiment", None)
    table = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet")
    rows = [r for r in table.to_pylist() if r["episode_index"] in keep]
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    episode = data.column(F.EPISODE_INDEX).to_numpy()
    data = data.filter(pa.array(np.isin(episode, keep)))
    mapping = {old: new for new, old in enumerate(keep)}
    new_episode = np.array([mapping[e] for e in data.column(F.EPISODE_INDEX).to_numpy()], dtype=np.int64)
    data = data.set_column(data.column_names.index(F.EPISODE_INDEX), F.EPISODE_INDEX, pa.array(new_episode))
    data = data.set_column(
        data.column_names.index(F.INDEX), F.INDEX, pa.array(np.arange(data.num_rows, dtype=np.int64))
    )
    start, out = 0, []
    for new, row in enumerate(rows):
        kept = {k: v for k, v in row.items() if k in LEROBOT_EPISODE_COLUMNS or k.startswith(("stats/", "videos/"))}
        kept.update(episode_index=new, dataset_from_index=start, dataset_to_index=start + row["length"])
        start += row["length"]
        out.append(kept)
    pq.write_table(data, root / "data/chunk-000/file-000.parquet")
    pq.write_table(pa.Table.from_pylist(out), root / "meta/episodes/chunk-000/file-000.parquet")
    info.update(total_episodes=len(keep), total_frames=start, splits={"train": f"0:{len(keep)}"})
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))


def test_episode_metadata_survives_a_lerobot_style_rewrite_of_the_episodes_table(tmp_path):
    root = tmp_path / "ds"
    _write_dexego(root)
    before = _meta(Dataset(root))
    _lerobot_rewrite(root, keep=[1, 2])
    assert "source" not in pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").column_names
    ds = Dataset(root)
    assert _meta(ds) == before[1:]
    assert [m["embodiment"] for m in _meta(ds)] == ["human", "human"] and _meta(ds)[0]["metadata"] == {
        "seed": 1,
        "subject": "s1",
    }
    assert validate_report(root).errors == []


_LEROBOT_SCRIPT = textwrap.dedent(
    """
    import sys
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.dataset_tools import delete_episodes, split_dataset
    source, out, op = sys.argv[1], sys.argv[2], sys.argv[3]
    dataset = LeRobotDataset("local/source", root=source)
    if op == "delete":
        delete_episodes(dataset, [0], output_dir=out, repo_id="local/deleted")
    else:
        split_dataset(dataset, {"a": [0, 2], "b": [1]}, output_dir=out)
    print("done")
    """
)


def _run_lerobot_script(script: str, *args: str):
    """Run ``script`` with lerobot's python; its last stdout line, parsed as JSON when it is JSON."""
    if not LEROBOT_PYTHON or not Path(LEROBOT_PYTHON).is_file():
        pytest.skip(
            "set DEXEGO_LEROBOT_PYTHON to the python of an environment with lerobot==0.4.4 (see the module docstring)"
        )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    proc = subprocess.run([LEROBOT_PYTHON, "-c", script, *args], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last) if last.startswith("{") else last


def _run_lerobot(*args: str) -> None:
    assert _run_lerobot_script(_LEROBOT_SCRIPT, *args) == "done"


@pytest.mark.slow
def test_lerobot_delete_episodes_keeps_dexego_episode_metadata(tmp_path):
    root = tmp_path / "ds"
    episodes = _write_dexego(root)
    before = _meta(Dataset(root))
    _run_lerobot(str(root), str(tmp_path / "deleted"), "delete")
    out = tmp_path / "deleted"
    assert (
        "source" not in pq.read_table(next((out / "meta/episodes").rglob("*.parquet"))).column_names
    )  # LeRobot dropped it
    report = validate_report(out)
    assert report.errors == [], [str(p) for p in report.errors]
    ds = Dataset(out)
    assert _meta(ds) == before[1:]
    for new, old in enumerate([1, 2]):
        np.testing.assert_array_equal(ds.episode(new, frames=False).keypoints_world, episodes[old].keypoints_world)


@pytest.mark.slow
def test_lerobot_split_dataset_keeps_dexego_episode_metadata(tmp_path):
    root = tmp_path / "ds"
    _write_dexego(root)
    before = _meta(Dataset(root))
    _run_lerobot(str(root), str(tmp_path / "split"), "split")
    parts = {p.name: p for p in (tmp_path / "split").iterdir() if (p / "meta/info.json").is_file()}
    assert parts, list((tmp_path / "split").rglob("info.json"))
    found = {name: _meta(Dataset(path)) for name, path in parts.items()}
    assert sorted(m["source"] for metas in found.values() for m in metas) == ["take0", "take1", "take2"]
    for metas in found.values():
        for meta in metas:
            assert meta == before[int(meta["source"][-1])]


_KILL_POINTS_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    def items(root, episodes=None):
        ds = LeRobotDataset("local/x", root=root, video_backend="pyav", episodes=episodes)
        out = []
        for i in range(len(ds)):
            item, h = ds[i], hashlib.sha1()
            for key in sorted(item):
                value = item[key]
                h.update(key.encode() + (value.numpy().tobytes() if isinstance(value, torch.Tensor) else repr(value).encode()))
            out.append(h.hexdigest())
        # LeRobot's own tables (every data and episodes file, read whole): episode rows pointing at missing rows
        index = set(int(i) for i in ds.hf_dataset["index"])
        dangling = [int(e["episode_index"]) for e in ds.meta.episodes
                    if not set(range(e["dataset_from_index"], e["dataset_to_index"])) <= index]
        return {"len": len(ds), "episodes": ds.num_episodes, "items": out, **({"dangling": dangling} if episodes is None else {})}

    result = {}
    for root in sys.argv[1:]:
        result[root] = {"all": items(root)}
        try:
            result[root]["new"] = items(root, [2])
        except Exception as exc:  # the episode is not there (yet)
            result[root]["new"] = type(exc).__name__
    print(json.dumps(result))
    """
)


class _Killed(BaseException):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("roll", [False, True], ids=["append", "new-files"])
def test_lerobot_reads_a_consistent_dataset_at_every_kill_point_of_a_publish(tmp_path, roll):
    """LeRobot's own loader on a dataset whose writer died before each rename of an episode's publish: it serves
    the previous episodes exactly (or, after the commit, all three); asking it for the unfinished episode gives
    either LeRobot's own "no such episode" error or the complete episode, never a part of it; no episode row of
    the tables it loads points at rows that are not there."""
    settings = {"data_files_size_in_mb": 0.001, "video_files_size_in_mb": 0.001} if roll else {}
    base = tmp_path / "base"
    with DatasetWriter(base, **settings) as writer:
        for seed in range(2):
            writer.add_episode(synthetic_episode(20, size=(32, 32), seed=seed))
    roots = []
    for step in range(7):  # before each of the 6 renames, and after all
        root = tmp_path / f"killed-{step}"
        shutil.copytree(base, root)
        writer = DatasetWriter(root, **settings)

        def hook(index, path, step=step):
            if index == step:
                raise _Killed

        writer.publish_hook = hook
        try:
            writer.add_episode(synthetic_episode(25, size=(32, 32), seed=7, instructions=[(0, 10, "a new task")]))
        except _Killed:
            pass
        roots.append(str(root))
    out = _run_lerobot_script(_KILL_POINTS_SCRIPT, str(base), *roots)
    for step, root in enumerate([str(base), *roots]):
        assert out[root]["all"].pop("dangling") == [], step - 1
    before, after = out[str(base)], out[roots[-1]]
    assert before["all"]["len"] == 40 and after["all"]["len"] == 65 and after["new"]["len"] == 25
    assert after["all"]["items"][:40] == before["all"]["items"]
    commit = 4  # the rename of meta/info.json
    for step, root in enumerate(roots):
        seen = out[root]
        assert seen["all"] == (after if step > commit else before)["all"], step
        assert seen["new"] == after["new"] or (step <= commit and seen["new"] in ("IndexError", "ValueError")), (
            step,
            seen["new"],
        )
