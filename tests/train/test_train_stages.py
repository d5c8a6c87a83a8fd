"""`dexego train` with the real dataset engine and Policy: bad input, one stage, the three-stage CPU recipe."""

import json
from pathlib import Path

import numpy as np
import pytest

from dexego.cli import main
from dexego.configs import config_path
from dexego.train import checkpoints as ckpt

CPU_RECIPE = config_path("cpu/pretrain").parent
STAGES = ("pretrain", "midtrain", "finetune")


def test_missing_dataset_fails_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["train", str(CPU_RECIPE / "pretrain.toml")])
    err = capsys.readouterr().err
    assert code == 2 and "data/sim/human: data.sources[0].path: dataset not found" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_config_key_lists_valid_keys(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["train", str(CPU_RECIPE / "pretrain.toml"), "--set", "loop.epoch=3"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown key(s) loop.epoch" in err and "epochs" in err and "max_steps" in err
    code = main(["train", str(CPU_RECIPE / "pretrain.toml"), "--set", "model.heads=3"])
    err = capsys.readouterr().err
    assert code == 2 and "heads" in err and "regression" in err


def test_missing_init_from_fails_before_training(synthetic_sim_data, capsys, monkeypatch):
    monkeypatch.chdir(synthetic_sim_data)
    code = main(
        ["train", str(CPU_RECIPE / "midtrain.toml"), "--set", "init_from=runs/nowhere", "--set", "output_dir=runs/x"]
    )
    assert code == 2 and "runs/nowhere: init_from: no model.safetensors" in capsys.readouterr().err
    assert not (synthetic_sim_data / "runs" / "x").exists()


def _run_recipe(root: Path, overrides: list[str]) -> None:
    for stage in STAGES:
        assert main(["train", str(CPU_RECIPE / f"{stage}.toml"), *overrides]) == 0, stage


def _check_recipe_outputs(root: Path) -> None:
    from dexego.models import Policy

    for stage in STAGES:
        run = root / "runs" / "cpu" / stage
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        splits = {r["split"] for r in records}
        expected = {"pretrain": {"val_human"}, "midtrain": {"val_human", "val_robot"}, "finetune": {"val_robot"}}[stage]
        assert splits == {"train"} | expected, stage
        assert all(np.isfinite(r["loss"]) for r in records)
        policy = Policy.load(run / ckpt.FINAL)
        assert policy.config.horizon == 30
    # mid-training started from pretraining: its first checkpoint's weights are not a fresh initialisation
    pre = json.loads((root / "runs/cpu/midtrain/config.json").read_text())
    assert pre["init_from"] == "runs/cpu/pretrain"


def test_three_stage_cpu_recipe_short(synthetic_sim_data, monkeypatch, capsys):
    monkeypatch.chdir(synthetic_sim_data)
    _run_recipe(
        synthetic_sim_data,
        [
            "--set",
            "loop.max_steps=2",
            "--set",
            "loop.val_every=2",
            "--set",
            "loop.val_batches=1",
            "--set",
            "loop.batch_size=2",
            "--set",
            "data.sample.image_size=[32, 32]",
            "--set",
            "model.tiny.image_size=32",
            "--set",
            "loop.progress=false",
        ],
    )
    out = capsys.readouterr().out
    assert out.count("steps=2") == 3 and "val_human_loss=" in out
    _check_recipe_outputs(synthetic_sim_data)
    from dexego.models import Policy
    from dexego.train.build import build_stage_data
    from dexego.train.config import load_stage_config

    config = load_stage_config(
        CPU_RECIPE / "finetune.toml", ["data.sample.image_size=[32, 32]", "model.tiny.image_size=32"]
    )
    sample = build_stage_data(config).val["val_robot"][0]
    policy = Policy.load(synthetic_sim_data / "runs/cpu/finetune" / ckpt.FINAL)
    chunk = policy.predict_action_chunk({k: v for k, v in sample.items() if k not in ("actions", "action_valid")})
    assert chunk.shape == (30, 48) and np.isfinite(chunk).all()


@pytest.mark.slow
def test_three_stage_cpu_recipe_full(tmp_path, monkeypatch):
    from conftest import write_synthetic_datasets

    write_synthetic_datasets(tmp_path / "data" / "sim", human_episodes=12, robot_episodes=6, length=90, size=(64, 64))
    monkeypatch.chdir(tmp_path)
    _run_recipe(tmp_path, ["--set", "loop.progress=false"])
    _check_recipe_outputs(tmp_path)
    first = [json.loads(line) for line in (tmp_path / "runs/cpu/pretrain/metrics.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in first if r["split"] == "train"]
    assert train[-1] < train[0]  # pretraining learns
