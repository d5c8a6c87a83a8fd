import subprocess
import sys

import pytest

from dexego import __version__
from dexego.cli import GROUPS, main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for group in GROUPS:
        assert group in out


def test_every_group_has_help(capsys):
    for group in GROUPS:
        with pytest.raises(SystemExit) as exit_info:
            main([group, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.strip()


def test_unknown_command_fails():
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2


def test_console_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "dexego", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"dexego {__version__}"
