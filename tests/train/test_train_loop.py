"""The training loop with the toy policy: logging, divergence, freezing, init_from, EMA, keep-last-k."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from toy import ToyDataset, ToyPolicy

from dexego.errors import ConfigError
from dexego.evaluate.metrics_log import read_metrics
from dexego.train import StageData, Trainer, TrainingDivergedError, load_stage_config, seed_everything
from dexego.train import checkpoints as ckpt


def _config(out, **loop):
    base = {"epochs": 2, "batch_size": 4, "log_every": 2, "checkpoint_every": 3, "keep_last": 2, "progress": False}
    return {"name": "toy", "output_dir": str(out), "loop": {**base, **loop}, "optimizer": {"lr": 1e-3}}


def _data():
    return StageData(
        [ToyDataset(24), ToyDataset(8, seed=1, embodiment="h1")],
        val={"val_human": ToyDataset(6, seed=3), "val_robot": ToyDataset(5, seed=4, embodiment="h1")},
        data_hours=1.5,
    )


def _train(config, policy=None, data=None):
    seed_everything(config.seed)
    return Trainer(config, policy or ToyPolicy(), data or _data()).fit()


def test_run_writes_metrics_checkpoints_and_final(tmp_path):
    config = load_stage_config(_config(tmp_path / "run", val_every=4))
    result = _train(config)
    assert result.steps == 16 and result.epochs_completed == 2  # (24 + 8) // 4 = 8 steps per epoch
    names = [p.name for p in ckpt.list_checkpoints(tmp_path / "run")]
    assert names == ["step-00000015", "step-00000016"]  # keep_last = 2
    assert {p.name for p in (tmp_path / "run" / ckpt.FINAL).iterdir()} == {"model.safetensors", "metadata.json"}
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(2, 17, 2))
    assert all({"loss", "mse", "lr", "samples_per_s", "grad_norm"} <= r.keys() for r in train)
    val = [(r["step"], r["split"], r["samples"]) for r in records if r["split"].startswith("val")]
    assert val == [(s, split, n) for s in (4, 8, 12, 16) for split, n in (("val_human", 6), ("val_robot", 5))]
    log = read_metrics(tmp_path / "run")  # the evaluation package reads the same file
    assert log.splits() == ["train", "val_human", "val_robot"] and log.data_amount == (1.5, "hours")
    assert result.val_losses["val_human"] == pytest.approx(log.last("val_human", "loss"))
    assert any((tmp_path / "run" / "tensorboard").iterdir())


def test_validation_does_not_change_training(tmp_path):
    """Validation runs on forked RNG state, so the weights do not depend on how often it runs."""
    _train(load_stage_config(_config(tmp_path / "a", val_every=1, max_steps=6)))
    _train(load_stage_config(_config(tmp_path / "b", val_every=0, max_steps=6)))
    a = load_file(str(tmp_path / "a" / ckpt.FINAL / ckpt.WEIGHTS_FILE))
    b = load_file(str(tmp_path / "b" / ckpt.FINAL / ckpt.WEIGHTS_FILE))
    assert all(torch.equal(a[k], b[k]) for k in a)


class ExplodingPolicy(ToyPolicy):
    def __init__(self, after: int):
        super().__init__()
        self.calls, self.after = 0, after

    def forward(self, batch):
        loss, metrics = super().forward(batch)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                loss = loss * float("nan")
        return loss, metrics


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    config = load_stage_config(_config(tmp_path / "run", checkpoint_every=2))
    with pytest.raises(TrainingDivergedError) as err:
        _train(config, ExplodingPolicy(after=5))
    message = str(err.value)
    assert "loss is nan at step 6" in message and "step-00000004" in message
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-00000002", "step-00000004"]
    assert not (tmp_path / "run" / ckpt.FINAL).exists()
    weights = load_file(str(tmp_path / "run" / ckpt.CHECKPOINTS / "step-00000004" / ckpt.WEIGHTS_FILE))
    assert all(torch.isfinite(v).all() for v in weights.values())
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["diverged"] == "loss" and math.isnan(last["loss"])


def test_freeze_by_prefix_and_unknown_prefix(tmp_path):
    config = load_stage_config({**_config(tmp_path / "run", max_steps=3), "freeze": ["encoder"]})
    seed_everything(0)
    policy = ToyPolicy()
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    Trainer(config, policy, _data()).fit()
    after = policy.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not torch.equal(before["head.0.weight"], after["head.0.weight"])
    bad = load_stage_config({**_config(tmp_path / "bad", max_steps=3), "freeze": ["backbone.vision"]})
    with pytest.raises(ConfigError, match="backbone.vision.*top-level modules: encoder, head"):
        _train(bad)


def test_init_from_an_earlier_stage_and_resume_precedence(tmp_path):
    first = _train(load_stage_config(_config(tmp_path / "one", max_steps=4)))
    pretrained = load_file(str(first.final_dir / ckpt.WEIGHTS_FILE))
    config = load_stage_config(
        {
            **_config(tmp_path / "two", max_steps=2, ema_decay=0.5),
            "init_from": str(tmp_path / "one"),
            "freeze": ["encoder"],
        }
    )
    seed_everything(1)
    policy = ToyPolicy()
    Trainer(config, policy, _data()).fit()
    assert all(torch.equal(policy.state_dict()[k], pretrained[k]) for k in pretrained if k.startswith("encoder."))
    # a finished run re-started resumes its own last checkpoint rather than init_from, and trains no further
    result = _train(config, ToyPolicy())
    assert result.steps == 2
    final = load_file(str(tmp_path / "two" / ckpt.FINAL / ckpt.WEIGHTS_FILE))
    step = tmp_path / "two" / ckpt.CHECKPOINTS / "step-00000002"
    ema = load_file(str(step / ckpt.TRAINER_DIR / ckpt.EMA_FILE))
    assert torch.equal(final["head.0.weight"], ema["head.0.weight"])  # final/ holds the EMA weights
    assert not torch.equal(final["head.0.weight"], policy.state_dict()["head.0.weight"])
    # the checkpoint's policy weights are the averages too; training resumes from the raw ones in trainer/
    assert torch.equal(load_file(str(step / ckpt.WEIGHTS_FILE))["head.0.weight"], ema["head.0.weight"])
    raw = load_file(str(step / ckpt.TRAINER_DIR / ckpt.WEIGHTS_FILE))
    assert torch.equal(raw["head.0.weight"], policy.state_dict()["head.0.weight"])


def test_too_small_dataset_for_the_batch(tmp_path):
    config = load_stage_config(_config(tmp_path / "run", batch_size=16, grad_accum=4))
    with pytest.raises(Exception, match="cannot fill one optimiser step"):
        _train(config)


def test_resume_with_other_settings_is_refused_and_overwrite_starts_again(tmp_path):
    """A run folder's config.json always describes its weights: a changed setting is an error naming the key."""
    from dexego.train.run_folder import clear_run

    run = tmp_path / "run"
    _train(load_stage_config(_config(run, max_steps=4)))
    stored = (run / "config.json").read_text()
    final_before = (run / ckpt.FINAL / ckpt.WEIGHTS_FILE).read_bytes()
    changed = load_stage_config(_config(run, max_steps=4), ["optimizer.lr=0.01", "seed=3"])
    with pytest.raises(ConfigError, match=r"optimizer\.lr: 0\.001 -> 0\.01; seed: 0 -> 3.*--overwrite"):
        _train(changed)
    assert (run / "config.json").read_text() == stored  # nothing was rewritten
    assert (run / ckpt.FINAL / ckpt.WEIGHTS_FILE).read_bytes() == final_before
    # the same settings (operational keys aside) find the finished run and train nothing
    again = _train(load_stage_config(_config(run, max_steps=4, log_every=1, progress=False)))
    assert again.already_finished and again.steps == 4 and again.final_dir == run / ckpt.FINAL
    assert (run / ckpt.FINAL / ckpt.WEIGHTS_FILE).read_bytes() == final_before
    # --overwrite: the old run goes, a new one is trained with the new settings
    assert {p.name for p in clear_run(run)} == {"checkpoints", "final", "config.json", "metrics.jsonl", "tensorboard"}
    result = _train(changed)
    assert result.steps == 4 and not result.already_finished
    assert json.loads((run / "config.json").read_text())["optimizer"]["lr"] == 0.01


def test_cli_train_refuses_a_changed_resume_in_one_line(tmp_path, capsys, monkeypatch):
    from dexego.cli import main

    run = tmp_path / "run"
    _train(load_stage_config(_config(run, max_steps=2)))
    config = tmp_path / "stage.json"
    config.write_text(json.dumps({**_config(run, max_steps=2), "optimizer": {"lr": 0.5}}))
    monkeypatch.setattr("dexego.train.build.check_inputs", lambda config: None)  # the toy stage has no datasets
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "optimizer.lr: 0.001 -> 0.5" in err and "--overwrite" in err
