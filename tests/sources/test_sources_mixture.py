import json
from pathlib import Path

import pytest

from dexego.errors import ConfigError
from dexego.sources.mixture import read_mixture


def _dataset(root: Path, frames: int) -> None:
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps({"total_frames": frames}))


def test_scale_entries_become_frame_proportional_weights(tmp_path):
    _dataset(tmp_path / "egodex", 1000)
    _dataset(tmp_path / "holoassist", 4000)
    (tmp_path / "mix.toml").write_text('[[datasets]]\npath = "egodex"\nscale = 1.0\n'
                                       '[[datasets]]\npath = "holoassist"\nscale = 0.1\n'
                                       '[[datasets]]\npath = "/abs/sim"\nweight = 50\nname = "sim"\n')
    entries = read_mixture(tmp_path / "mix.toml")
    assert [e.weight for e in entries] == [1000.0, 400.0, 50.0]
    assert entries[0].path == str(tmp_path / "egodex") and entries[2].name == "sim"


def test_shipped_egovla_mixture_puts_holoassist_at_a_tenth(tmp_path):
    import shutil

    import dexego.sources

    src = Path(dexego.sources.__file__).parent / "mixtures" / "egovla_human.toml"
    shutil.copy(src, tmp_path / "mix.toml")
    for name in ("egodex", "hot3d", "hoi4d", "taco", "holoassist"):
        _dataset(tmp_path / name, 100)
    weights = {Path(e.path).name: e.weight for e in read_mixture(tmp_path / "mix.toml")}
    assert weights["holoassist"] == pytest.approx(weights["egodex"] / 10)


@pytest.mark.parametrize("body, message", [
    ('[[datasets]]\npath = "a"\nweight = 1\nscale = 1\n', "exactly one"),
    ('[[datasets]]\npath = "a"\nwieght = 1\n', "unknown key"),
    ('[[datasets]]\npath = "a"\nweight = -1\n', ">= 0"),
    ('title = "x"\n', "datasets"),
])
def test_bad_mixture_files_name_the_problem(tmp_path, body, message):
    (tmp_path / "mix.toml").write_text(body)
    with pytest.raises(ConfigError, match=message):
        read_mixture(tmp_path / "mix.toml")


def test_cli_convert_reports_summary(tmp_path, capsys):
    from dexego.cli import main

    assert main(["convert", "egodex", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "input directory not found" in capsys.readouterr().err
