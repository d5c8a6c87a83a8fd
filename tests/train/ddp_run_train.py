"""Trains the toy policy for one epoch (used by the multi-process test).

usage: python ddp_run_train.py OUTPUT_DIR BATCH_PER_PROCESS   (or under accelerate launch / torchrun)
"""

import sys

import torch
from toy import ToyDataset, ToyPolicy

from dexego.train import StageData, Trainer, load_stage_config, seed_everything


def main() -> None:
    torch.set_num_threads(1)
    out, batch = sys.argv[1], int(sys.argv[2])
    config = load_stage_config({
        "name": "ddp", "output_dir": out, "seed": 0,
        "loop": {"epochs": 1, "batch_size": batch, "log_every": 1, "progress": False},
        "optimizer": {"lr": 1e-2}, "schedule": {"kind": "constant"},
    })  # fmt: skip
    seed_everything(config.seed)
    policy = ToyPolicy(dropout=0.0)  # no randomness in the forward pass: one process and two see the same maths
    result = Trainer(config, policy, StageData([ToyDataset(48)])).fit()
    print(f"done steps={result.steps}")


if __name__ == "__main__":
    main()
