"""The CPU training recipe as documented: record simulator data -> pretrain -> mid-train -> fine-tune.

README's Train section and docs/training.md give the same `dexego sim demos` commands, and they write
exactly the datasets that the built-in cpu/* configs read; the slow test runs the documented sequence on tiny
settings from an empty working directory.
"""

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from dexego.cli import build_parser, main
from dexego.configs import config_text

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("pretrain", "midtrain", "finetune")
TINY_TRAINING = ["--set", "loop.max_steps=3", "--set", "loop.batch_size=2", "--set", "loop.log_every=1",
                 "--set", "loop.val_every=3", "--set", "loop.val_batches=1", "--set", "loop.checkpoint_every=3"]  # fmt: skip


def bash_lines(markdown: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def readme_train_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Train\n") :].split("\n## ", 1)[0]


def demos_commands(markdown: str) -> list[str]:
    return [line for line in bash_lines(markdown) if line.startswith("dexego sim demos ")]


def cpu_train_configs(markdown: str) -> list[str]:
    return [
        line.split()[2] for line in bash_lines(markdown) if line.startswith("dexego train cpu/") and "--" not in line
    ]


_TRAINING = (ROOT / "docs" / "training.md").read_text()
# The CPU recipe's section of docs/training.md (other sections, e.g. EgoScale's recipe, record their own datasets).
DOCS = _TRAINING[_TRAINING.index("## Running the CPU recipe on simulator data\n") :].split("\n## ", 1)[0]


def test_readme_and_docs_record_exactly_the_datasets_the_cpu_configs_read():
    assert demos_commands(readme_train_section()) == demos_commands(DOCS) != []
    assert cpu_train_configs(DOCS) == [f"cpu/{s}" for s in STAGES] == cpu_train_configs(readme_train_section())
    written: dict[str, set[str]] = {}
    sizes = set()
    for line in demos_commands(DOCS):
        args = build_parser().parse_args(shlex.split(line)[1:])
        written.setdefault(args.out, set()).add(args.embodiment)
        sizes.add(args.image_size)
    assert all(len(e) == 1 for e in written.values()), f"a folder mixes embodiments: {written}"
    read = {}
    for stage in STAGES:
        config = tomllib.loads(config_text(f"cpu/{stage}"))  # the built-in configs, shipped in the package
        read[stage] = {source["path"] for source in config["data"]["sources"]}
        assert sizes == {config["data"]["sample"]["image_size"][0]}, stage
    assert set().union(*read.values()) == set(written)
    assert {e for p in read["pretrain"] for e in written[p]} == {"human"}
    assert {e for p in read["midtrain"] for e in written[p]} == {"human", "robot"}
    assert {e for p in read["finetune"] for e in written[p]} == {"robot"}


@pytest.mark.slow
def test_the_documented_cpu_recipe_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' paths are relative to the working directory
    for line in demos_commands(DOCS):
        argv = shlex.split(line)[1:]
        argv[argv.index("--episodes") + 1] = "2"
        assert main(argv) == 0, line
    for config in cpu_train_configs(DOCS):
        assert main(["train", config, *TINY_TRAINING]) == 0, config  # a built-in config name, as documented
    for stage in STAGES:
        run = tmp_path / "runs" / "cpu" / stage
        assert (run / "final" / "model.safetensors").is_file(), stage
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert max(r["step"] for r in records if r["split"] == "train") == 3
    from dexego.models import Policy

    policy = Policy.load(tmp_path / "runs" / "cpu" / "finetune" / "final")
    assert policy.config.action_space == "ego48"
