"""experiments/common.commit: a script rewriting its own results/ folder is not a change to the code."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

import common  # noqa: E402


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "experiments" / "demo" / "results").mkdir(parents=True)
    (tmp_path / "experiments" / "demo" / "run.py").write_text("print(1)\n")
    (tmp_path / "experiments" / "demo" / "results" / "results.md").write_text("old\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


def test_clean_checkout_is_its_commit(repo: Path) -> None:
    assert common.commit(repo) == _git(repo, "rev-parse", "--short", "HEAD")


def test_rewritten_results_do_not_mark_the_code_dirty(repo: Path) -> None:
    (repo / "experiments" / "demo" / "results" / "results.md").write_text("new\n")
    assert not common.commit(repo).endswith("+dirty")


@pytest.mark.parametrize("changed", ["src/code.py", "experiments/demo/run.py"])
def test_changed_code_or_script_is_dirty(repo: Path, changed: str) -> None:
    (repo / changed).write_text("changed\n")
    assert common.commit(repo) == _git(repo, "rev-parse", "--short", "HEAD") + "+dirty"


def test_not_a_checkout(tmp_path: Path) -> None:
    assert common.commit(tmp_path) == "unknown"
