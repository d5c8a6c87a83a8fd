"""Acceptance: a run killed with SIGKILL and resumed ends with the same weights as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from dexego.train.checkpoints import list_checkpoints

RUNNER = Path(__file__).with_name("toy_run_train.py")


def _start(out: Path, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "TOY_DELAY_S": str(delay), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(RUNNER), str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-3000:]
    return out.decode()


def _assert_same_tensors(a: Path, b: Path) -> None:
    left, right = load_file(str(a)), load_file(str(b))
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), f"{a.name}: {key} differs"


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    ref_proc = _start(reference)
    victim = _start(killed, delay=0.02)  # slowed down so that it can be killed mid-run
    deadline = time.time() + 180
    while time.time() < deadline and victim.poll() is None and not list_checkpoints(killed):
        time.sleep(0.02)
    assert victim.poll() is None, "the run ended before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    interrupted_at = list_checkpoints(killed)[-1].name
    assert interrupted_at != "step-00000030"
    assert "done steps=30" in _finish(_start(killed))  # resumes from the last checkpoint
    assert "done steps=30" in _finish(ref_proc)
    for name in ("model.safetensors", "ema.safetensors", "optimizer.safetensors"):
        _assert_same_tensors(reference / "checkpoints/step-00000030" / name, killed / "checkpoints/step-00000030" / name)
    _assert_same_tensors(reference / "final/model.safetensors", killed / "final/model.safetensors")
    # the metrics log of the resumed run holds each step once and agrees with the reference where both logged
    ref_lines = (reference / "metrics.jsonl").read_text().splitlines()
    resumed_lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert len(resumed_lines) == len(ref_lines)
    assert [l for l in resumed_lines if '"val_' in l] == [l for l in ref_lines if '"val_' in l]
