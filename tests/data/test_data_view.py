"""`dexego data view`: a Rerun recording of one episode, written atomically; bad episode numbers are clear errors."""

import pytest

from dexego.cli import main
from dexego.data.view import record_episode
from dexego.errors import InputError


def test_recording_is_written_and_readable_by_rerun(small_dataset, tmp_path):
    root, _ = small_dataset
    out = record_episode(root, 1, tmp_path / "views" / "ep1.rrd", horizon=5)
    assert out.is_file() and out.stat().st_size > 1000
    assert [p.name for p in out.parent.iterdir()] == ["ep1.rrd"]  # no temporary file left
    assert out.read_bytes()[:4] == b"RRF2"  # Rerun's file magic


def test_episode_out_of_range_is_one_clear_error_and_writes_nothing(small_dataset, tmp_path, capsys):
    root, _ = small_dataset
    with pytest.raises(InputError, match=r"episode: 7 is out of range: the dataset has episodes 0\.\.2"):
        record_episode(root, 7, tmp_path / "x.rrd")
    assert main(["data", "view", str(root), "--episode", "-1", "--out", str(tmp_path / "y.rrd")]) == 2
    assert "out of range" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
