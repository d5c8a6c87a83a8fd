"""Every command the README shows must exist: dexego commands parse, make targets and scripts are there."""

import re
import shlex
from pathlib import Path

import pytest

from dexego.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def bash_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def dexego_commands() -> list[str]:
    commands = []
    for line in bash_lines():
        words = shlex.split(line)
        if "dexego" in words and words[0] in ("dexego", "accelerate"):
            commands.append(words[words.index("dexego") + 1 :] if words[0] != "dexego" else words[1:])
    return commands


def test_readme_shows_the_two_setup_commands():
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make demo" in first_screen and "make test" in first_screen
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install", "demo", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


@pytest.mark.parametrize("argv", dexego_commands(), ids=lambda argv: " ".join(argv[:3]))
def test_readme_dexego_commands_parse(argv):
    args = build_parser().parse_args(argv)
    assert getattr(args, "handler", None) is not None, f"'dexego {' '.join(argv)}' names no runnable command"


def test_readme_scripts_and_files_exist():
    for line in bash_lines():
        for word in shlex.split(line):
            if word.startswith(("configs/", "benchmarks/", "docs/")):
                assert (ROOT / word).exists(), word
    for link in re.findall(r"\]\(((?:docs|src|configs)/[^)]+)\)", README):
        assert (ROOT / link).exists(), link
