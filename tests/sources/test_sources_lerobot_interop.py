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


def _run_lerobot(*args: str) -> None:
    if not LEROBOT_PYTHON or not Path(LEROBOT_PYTHON).is_file():
        pytest.skip(
            "set DEXEGO_LEROBOT_PYTHON to the python of an environment with lerobot==0.4.4 (see the module docstring)"
        )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    proc = subprocess.run(
        [LEROBOT_PYTHON, "-c", _LEROBOT_SCRIPT, *args], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-3000:]


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
