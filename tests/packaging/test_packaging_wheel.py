"""Acceptance: a wheel built from the repository, installed into a fresh environment outside it, runs the demo,
trains a built-in config and runs the README's Python quickstart (nothing is read from the repository)."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(command, cwd, env=None, timeout=1800) -> str:
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_wheel_ships_configs_and_profiles(tmp_path):
    """Fast check (no install): the package data the workflow needs is inside the wheel."""
    pytest.importorskip("setuptools")
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("dexego/configs/cpu/pretrain.toml", "dexego/configs/pretrain.toml", "dexego/configs/mixtures/egovla_human.toml",
                 "dexego/demo/profiles/micro/demo.toml", "dexego/demo/profiles/quick/finetune.toml"):  # fmt: skip
        assert name in names, name


def _build_wheel(tmp_path) -> Path:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ROOT], tmp_path)
    (wheel,) = dist.glob("dexego-*.whl")
    return wheel


@pytest.mark.slow  # a fresh environment with every dependency, the micro demo, a training stage: minutes
def test_wheel_in_a_fresh_environment_runs_demo_train_and_quickstart(tmp_path):
    pytest.importorskip("setuptools")
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    # Nothing of the repository may leak in: no PYTHONPATH (pip would take the source tree's dexego.egg-info for an
    # installed dexego and skip the wheel), a venv without system site packages, a working directory outside.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", MUJOCO_GL=env.get("MUJOCO_GL", "egl"),
               HF_HUB_OFFLINE="1")  # fmt: skip
    _run([sys.executable, "-m", "venv", venv], tmp_path, env)
    python, dexego = venv / "bin" / "python", venv / "bin" / "dexego"
    constraints = ROOT / "constraints.txt"
    _run([python, "-m", "pip", "install", "-q", "-c", constraints, "torch==2.13.0"], tmp_path, env)
    _run([python, "-m", "pip", "install", "-q", "-c", constraints, wheel], tmp_path, env)
    work = tmp_path / "work"
    work.mkdir()
    where = _run([python, "-c", "import dexego; print(dexego.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(venv), where

    _run([dexego, "demo", "--profile", "micro", "--out", "demo"], work, env)
    assert 'id="answer"' in (work / "demo" / "report.html").read_text()

    _run([dexego, "sim", "demos", "--embodiment", "human", "--task", "Push-Box", "--episodes", "2", "--image-size", "64",
          "--out", "data/sim/human"], work, env)  # fmt: skip
    listed = _run([dexego, "config", "list"], work, env)
    assert "cpu/pretrain" in listed
    _run([dexego, "train", "cpu/pretrain", "--set", "loop.max_steps=2", "--set", "loop.batch_size=2",
          "--set", "loop.val_batches=1"], work, env)  # fmt: skip
    loaded = _run([python, "-c", "from dexego.models import Policy; p = Policy.from_pretrained('runs/cpu/pretrain'); "
                   "print(p.config.action_space, p.config.horizon)"], work, env)  # fmt: skip
    assert loaded.split() == ["ego48", "30"]

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    quickstart = next(b for b in blocks if "predict_action_chunk" in b)
    (work / "quickstart.py").write_text(quickstart)
    out = _run([python, "quickstart.py"], work, env)
    assert "(30, 48)" in out and "subtasks done:" in out
