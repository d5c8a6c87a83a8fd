"""Two processes (accelerate launch, CPU, gloo) train to the weights of one process with the same global batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from toy import ToyPolicy

from dexego.train import seed_everything

SCRIPT = Path(__file__).parent / "ddp_run_train.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str]) -> str:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


@pytest.mark.slow  # two interpreters plus a two-process launch (~1 min)
def test_two_processes_reach_the_weights_of_one_with_the_same_global_batch(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert "done steps=12" in _run([sys.executable, str(SCRIPT), str(one), "4"])  # 48 samples / batch 4
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
    ]  # without a GPU, --multi_gpu starts CPU processes (gloo)
    out = _run([*launch, str(SCRIPT), str(two), "2"])  # 2 processes x 2 = the same global batch of 4
    assert out.count("done steps=12") == 2  # both processes ran the same 12 optimiser steps
    a, b = load_file(str(one / "final" / "model.safetensors")), load_file(str(two / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
    seed_everything(0)
    initial = ToyPolicy(dropout=0.0).state_dict()  # what both runs started from
    moved = max(float((a[k] - initial[k]).abs().max()) for k in a)
    gap = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-2 and gap < 1e-3 * moved, (moved, gap)  # training moved the weights; the runs agree
    metrics = (two / "metrics.jsonl").read_text().splitlines()
    assert sum('"split": "train"' in line for line in metrics) == 12  # one log per step, written by one process
