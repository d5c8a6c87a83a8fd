"""Shared pieces of the experiment scripts: simulator human data, fixed train/validation episodes, one training run.

Every script writes its datasets and runs under ``experiments/.work/`` (not
committed; re-used when present) and its results (JSON, Markdown, PNG) under
its own ``results/`` folder.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict[str, Any]:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform()}  # fmt: skip


def record(task: str, root: Path, episodes: int, embodiment: str, seed: int = 0, image_size: int = 64) -> Path:
    """``episodes`` successful scripted demonstrations of ``task`` in ``root/task`` (resumed, not redone)."""
    from dexego.sim.demos import record_demos

    out = root / task
    if (out / "meta" / "info.json").is_file():
        from dexego.data import Dataset

        if Dataset(out).num_episodes >= episodes:  # done before (record_demos would replay the attempts to check)
            return out
    summary = record_demos(task, episodes, out, seed=seed, image_size=image_size, embodiment=embodiment)
    log(f"{embodiment} {task}: {summary['written']} new + {summary['skipped_existing']} existing episodes in {out}")
    return out


@dataclass(frozen=True)
class Split:
    """One dataset's episodes for training (in a fixed order) and for validation."""

    path: Path
    train: list[int]
    val: list[int]


def split_datasets(paths: list[Path], val_fraction: float, seed: int = 0) -> list[Split]:
    from dexego.data import Dataset, split_episodes

    out = []
    for path in paths:
        train, val = split_episodes(Dataset(path).num_episodes, val_fraction, seed, path.name)
        out.append(Split(path, train, val))
    return out


def hold_out_last(paths: list[Path], count: int) -> list[Split]:
    """The last ``count`` episodes of every dataset for validation, the others (in order) for training."""
    from dexego.data import Dataset

    out = []
    for path in paths:
        total = Dataset(path).num_episodes
        if total <= count:
            raise ValueError(f"{path}: {total} episodes, need more than the {count} held out")
        out.append(Split(path, list(range(total - count)), list(range(total - count, total))))
    return out


def hours(path: Path, episodes: list[int]) -> float:
    from dexego.data import Dataset

    data = Dataset(path)
    return float(sum(int(data.episode_lengths[e]) for e in episodes)) / data.fps / 3600.0


def train_run(config, train: list[tuple[Path, list[int]]], val: dict[str, list[tuple[Path, list[int]]]],
              action_stats: dict | None, data_hours: float | None = None, tokenizer=None):  # fmt: skip
    """Train one stage on chosen episodes (``dexego.train``'s trainer and data builder), validating on fixed episodes;
    returns the policy. A model with ``action_frame = "relative"`` gets the builder's relative target statistics."""
    from dexego.models import Policy
    from dexego.train import Trainer, seed_everything
    from dexego.train.build import EpisodeSelection, build_stage_data
    from dexego.train.trainer import make_accelerator

    selections = [EpisodeSelection(path, path.name, tuple(eps)) for path, eps in train if eps]
    selections += [
        EpisodeSelection(path, path.name, val={name: eps}) for name, parts in val.items() for path, eps in parts if eps
    ]
    data = build_stage_data(config, selections=selections, action_stats=action_stats, data_hours=data_hours)
    seed_everything(config.seed)
    model = config.model
    policy = Policy(model, data.action_stats, tokenizer=tokenizer, target_stats=data.target_stats)
    result = Trainer(config, policy, data, make_accelerator(config.loop.mixed_precision)).fit()
    return policy, result


def pooled_action_stats(config, paths: list[Path]) -> dict:
    """The normaliser statistics of all the datasets together (the same for every run of an experiment)."""
    from dexego.train.build import build_stage_data

    return build_stage_data(config_with_sources(config, paths)).action_stats


def config_with_sources(config, paths: list[Path]):
    import dataclasses

    from dexego.train import DataSource

    return dataclasses.replace(
        config, data=dataclasses.replace(config.data, sources=tuple(DataSource(str(p)) for p in paths))
    )


def write_json(path: Path, data: Any) -> None:
    from dexego.evaluate.html_page import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


RESULTS_ARE_NOT_CODE = ":(exclude,glob)experiments/*/results/**"  # git pathspec


def commit(root: Path | None = None) -> str:
    """The git commit of the code that ran, with '+dirty' when tracked files differ from it (``root``: the
    repository to ask, by default this checkout).

    The experiments' own ``results/`` folders do not count: a script that rewrites its results would
    otherwise call its own output a change to the code.
    """
    import subprocess

    root = HERE.parent if root is None else root
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", RESULTS_ARE_NOT_CODE],
            cwd=root, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
