"""Acceptance: a run interrupted (an exception in-process, or SIGKILL) and resumed ends with the same weights
as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from toy import ToyDataset, ToyPolicy

from dexego.train import StageData, Trainer, load_stage_config, seed_everything
from dexego.train.checkpoints import list_checkpoints

RUNNER = Path(__file__).with_name("toy_run_train.py")


def _start(out: Path, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "TOY_DELAY_S": str(delay), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(RUNNER), str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-3000:]
    return out.decode()


def _assert_same_tensors(a: Path, b: Path) -> None:
    left, right = load_file(str(a)), load_file(str(b))
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), f"{a.name}: {key} differs"


class _Crash(RuntimeError):
    pass


class _CrashingDataset(ToyDataset):
    """Raises after ``crash_after`` reads: the run dies mid-step, after some checkpoints were written."""

    def __init__(self, *args, crash_after: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.crash_after, self.reads = crash_after, 0

    def __getitem__(self, index: int) -> dict:
        self.reads += 1
        if self.crash_after is not None and self.reads > self.crash_after:
            raise _Crash("simulated crash")
        return super().__getitem__(index)


def _toy_run(out: Path, crash_after: int | None = None) -> tuple[int, int]:
    """The run of toy_run_train.py, in this process (same config, data and seed): (steps, samples read)."""
    config = load_stage_config({
        "name": "toy", "output_dir": str(out), "optimizer": {"lr": 1e-3, "weight_decay": 0.01},
        "schedule": {"kind": "cosine", "warmup_steps": 2},
        "loop": {"epochs": 3, "batch_size": 4, "grad_accum": 2, "checkpoint_every": 3, "keep_last": 2, "log_every": 2,
                 "val_every": 4, "ema_decay": 0.9, "progress": False},
    })  # fmt: skip
    seed_everything(config.seed)
    human = _CrashingDataset(48, crash_after=crash_after)
    data = StageData(
        [human, ToyDataset(32, seed=1, embodiment="h1")],
        weights=[1.0, 0.5],
        val={"val_human": ToyDataset(12, seed=7), "val_robot": ToyDataset(8, seed=8, embodiment="h1")},
    )
    steps = Trainer(config, ToyPolicy(), data).fit().steps
    return steps, human.reads


def test_crash_then_resume_matches_uninterrupted_run(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocess runs: bitwise-equal sums
    try:
        reference, crashed = tmp_path / "reference", tmp_path / "crashed"
        steps, reference_reads = _toy_run(reference)
        assert steps == 30
        with pytest.raises(_Crash):
            _toy_run(crashed, crash_after=100)
        interrupted_at = list_checkpoints(crashed)[-1].name
        assert interrupted_at not in ("step-00000000", "step-00000030")
        steps, resumed_reads = _toy_run(crashed)
        assert steps == 30 and resumed_reads < reference_reads - 50  # continued from the checkpoint, not from step 0
    finally:
        torch.set_num_threads(threads)
    for name in (
        "model.safetensors",
        "trainer/model.safetensors",
        "trainer/ema.safetensors",
        "trainer/optimizer.safetensors",
    ):
        _assert_same_tensors(
            reference / "checkpoints/step-00000030" / name, crashed / "checkpoints/step-00000030" / name
        )
    _assert_same_tensors(reference / "final/model.safetensors", crashed / "final/model.safetensors")
    ref_lines = (reference / "metrics.jsonl").read_text().splitlines()
    resumed_lines = (crashed / "metrics.jsonl").read_text().splitlines()
    assert len(resumed_lines) == len(ref_lines)
    assert [line for line in resumed_lines if '"val_' in line] == [line for line in ref_lines if '"val_' in line]


@pytest.mark.slow  # three fresh interpreters (~25 s); test_crash_then_resume_matches_uninterrupted_run covers resume by default
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
    for name in (
        "model.safetensors",
        "trainer/model.safetensors",
        "trainer/ema.safetensors",
        "trainer/optimizer.safetensors",
    ):
        _assert_same_tensors(
            reference / "checkpoints/step-00000030" / name, killed / "checkpoints/step-00000030" / name
        )
    _assert_same_tensors(reference / "final/model.safetensors", killed / "final/model.safetensors")
    # the metrics log of the resumed run holds each step once and agrees with the reference where both logged
    ref_lines = (reference / "metrics.jsonl").read_text().splitlines()
    resumed_lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert len(resumed_lines) == len(ref_lines)
    assert [line for line in resumed_lines if '"val_' in line] == [line for line in ref_lines if '"val_' in line]
