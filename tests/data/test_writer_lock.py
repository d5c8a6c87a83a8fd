"""One writer per dataset: a second concurrent writer is refused, and a closed (or dropped) writer frees the dataset."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dexego.data import Dataset
from dexego.data.writer import DatasetWriter
from dexego.errors import InputError


def _write_episode(writer: DatasetWriter, frames: int = 3) -> None:
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.add_frame(
            keypoints_world=rng.normal(size=(2, 21, 3)) * 0.05 + [0.0, 0.0, 0.5],
            hand_valid=np.ones(2, dtype=bool),
            world_from_camera=np.eye(4),
            intrinsics=np.array([100.0, 100.0, 32.0, 32.0]),
        )
    writer.commit_episode(instructions=[(0, frames, "reach")], source="test", embodiment="human")


def test_a_second_writer_is_refused_and_the_first_one_finishes(tmp_path):
    root = tmp_path / "ds"
    first = DatasetWriter(root, fps=30)
    _write_episode(first)
    with pytest.raises(InputError, match=r"ds: this dataset is being written by another process"):
        DatasetWriter(root, fps=30)
    _write_episode(first)  # the refused writer removed nothing of the first one's
    first.close()
    assert Dataset(root).num_episodes == 2
    with DatasetWriter(root, fps=30) as again:  # closed: the dataset is free again
        _write_episode(again)
    assert Dataset(root).num_episodes == 3


@pytest.mark.slow  # two interpreter start-ups
def test_a_writer_in_another_process_is_refused(tmp_path):
    root = tmp_path / "ds"
    holder = DatasetWriter(root, fps=30)
    code = (
        "import sys\n"
        "from dexego.data.writer import DatasetWriter\n"
        "from dexego.errors import InputError\n"
        "try:\n"
        f"    DatasetWriter({str(root)!r}, fps=30)\n"
        "except InputError as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr
    assert "being written by another process" in out.stdout
    holder.close()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_dropped_writer_frees_the_dataset(tmp_path):
    root = tmp_path / "ds"
    writer = DatasetWriter(root, fps=30)
    _write_episode(writer)
    del writer
    with DatasetWriter(root, fps=30) as again:
        _write_episode(again)
    assert Dataset(root).num_episodes == 2
