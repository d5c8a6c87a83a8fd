"""Every command the README and docs/ show must exist: dexego commands parse, make targets and scripts are there."""

import re
import shlex
from pathlib import Path

import pytest

from dexego.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = {
    path.relative_to(ROOT).as_posix(): path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}


def bash_lines(text: str = README) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    # Join continued lines, drop comments.
    joined = [re.sub(r"\\\n\s*", " ", block) for block in blocks]
    lines = [line.split("#", 1)[0].strip() for block in joined for line in block.splitlines()]
    return [line for line in lines if line]


def dexego_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for doc, text in DOCS.items():
        for line in bash_lines(text):
            words = shlex.split(line)
            if "dexego" in words and words[0] in ("dexego", "accelerate"):
                commands.append((doc, words[words.index("dexego") + 1 :] if words[0] != "dexego" else words[1:]))
    return commands


def test_readme_shows_the_two_setup_commands():
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make demo" in first_screen and "make test" in first_screen
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install", "demo", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


@pytest.mark.parametrize(("doc", "argv"), dexego_commands(), ids=lambda x: x if isinstance(x, str) else " ".join(x[:3]))
def test_documented_dexego_commands_parse(doc, argv):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{doc}: 'dexego {' '.join(argv)}' does not parse")
    assert getattr(args, "handler", None) is not None, f"{doc}: 'dexego {' '.join(argv)}' names no runnable command"


def test_documented_scripts_and_files_exist():
    for doc, text in DOCS.items():
        for line in bash_lines(text):
            for word in shlex.split(line):
                if word.startswith(("configs/", "benchmarks/", "docs/", "examples/", "experiments/")):
                    assert (ROOT / word).exists(), f"{doc}: {word}"
    for link in re.findall(r"\]\(((?:docs|src|configs)/[^)]+)\)", README):
        assert (ROOT / link).exists(), link


def test_documented_train_configs_are_built_in_or_files():
    from dexego.configs import is_builtin

    trained = [(doc, argv[1]) for doc, argv in dexego_commands() if argv[0] == "train"]
    assert trained
    for doc, config in trained:
        assert is_builtin(config) or (ROOT / config).is_file(), f"{doc}: dexego train {config}"
