"""Runs a toy training stage in a subprocess (used by the kill-and-resume test).

usage: python toy_run_train.py OUTPUT_DIR [key=value overrides ...]
"""

import sys

import torch
from toy import ToyDataset, ToyPolicy

from dexego.train import StageData, Trainer, load_stage_config, seed_everything

BASE = {
    "name": "toy",
    "loop": {
        "epochs": 3,
        "batch_size": 4,
        "grad_accum": 2,
        "checkpoint_every": 3,
        "keep_last": 2,
        "log_every": 2,
        "val_every": 4,
        "ema_decay": 0.9,
        "progress": False,
    },
    "schedule": {"kind": "cosine", "warmup_steps": 2},
    "optimizer": {"lr": 1e-3, "weight_decay": 0.01},
}


def main() -> None:
    torch.set_num_threads(1)
    out, *overrides = sys.argv[1:]
    config = load_stage_config({**BASE, "output_dir": out}, overrides)
    delay = float(__import__("os").environ.get("TOY_DELAY_S", "0"))
    seed_everything(config.seed)
    data = StageData(
        [ToyDataset(48, delay_s=delay), ToyDataset(32, seed=1, embodiment="h1", delay_s=delay)],
        weights=[1.0, 0.5],
        val={"val_human": ToyDataset(12, seed=7), "val_robot": ToyDataset(8, seed=8, embodiment="h1")},
    )
    result = Trainer(config, ToyPolicy(), data).fit()
    print(f"done steps={result.steps}")


if __name__ == "__main__":
    main()
