"""Training on EgoVLA's action space: `dexego train` with action_space = "mano" on a dataset that carries MANO hands."""

import dataclasses
import json
from pathlib import Path

import numpy as np

from dexego.cli import main
from dexego.configs import config_path
from dexego.data import DatasetWriter
from dexego.data.synthetic import synthetic_episode
from dexego.geometry import axis_angle_to_matrix, matrix_to_rot6d
from dexego.train import checkpoints as ckpt

PRETRAIN = config_path("cpu/pretrain")


def _write_mano_dataset(root: Path) -> None:
    rng = np.random.default_rng(0)
    with DatasetWriter(root) as writer:
        for seed in range(3):
            episode = synthetic_episode(30, size=(32, 32), seed=seed)
            n = episode.length
            rot = matrix_to_rot6d(axis_angle_to_matrix(rng.normal(scale=0.5, size=(n, 2, 3))))
            mano = np.concatenate([episode.keypoints_world[:, :, 0], rot, rng.normal(size=(n, 2, 15))], -1).astype(
                np.float32
            )
            writer.add_episode(dataclasses.replace(episode, hand_mano=mano))


def test_a_tiny_policy_trains_on_the_mano_action_space(tmp_path, monkeypatch, capsys):
    _write_mano_dataset(tmp_path / "data" / "sim" / "human")
    monkeypatch.chdir(tmp_path)
    overrides = ["data.representation=mano", "model.action_space=mano", "loop.max_steps=2", "loop.batch_size=2",
                 "loop.val_every=2", "loop.val_batches=1", "data.sample.image_size=[32, 32]", "model.tiny.image_size=32", "loop.progress=false"]  # fmt: skip
    assert main(["train", str(PRETRAIN), *[a for o in overrides for a in ("--set", o)]]) == 0
    assert "steps=2" in capsys.readouterr().out
    run = tmp_path / "runs" / "cpu" / "pretrain"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records and all(np.isfinite(r["loss"]) for r in records)
    from dexego.models import Policy

    policy = Policy.load(run / ckpt.FINAL)
    assert policy.config.action_space == "mano"
