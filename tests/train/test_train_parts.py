"""Stage config, schedules, the resumable sampler, state files and checkpoint directories."""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from dexego.configs import config_path
from dexego.data.mixtures import MixtureSampler
from dexego.errors import ConfigError, InputError
from dexego.train import checkpoints as ckpt
from dexego.train.config import ScheduleConfig, load_stage_config
from dexego.train.schedule import build_scheduler, lr_factor
from dexego.train.state_io import load_state, rng_state, save_state, set_rng_state

CONFIGS = config_path("pretrain").parent


# ---------------------------------------------------------------- config
def test_unknown_keys_are_listed_with_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_stage_config({"loop": {"epochs": 2, "batchsize": 4}})
    message = str(err.value)
    assert "loop.batchsize" in message and "batch_size" in message and "grad_accum" in message


def test_overrides_and_types():
    config = load_stage_config(
        {"optimizer": {"lr": 1}}, ["loop.max_steps=7", "schedule.kind=step", "freeze=['backbone']"]
    )
    assert config.loop.max_steps == 7 and config.schedule.kind == "step"
    assert config.optimizer.lr == 1.0 and config.freeze == ("backbone",)
    with pytest.raises(ConfigError, match="schedule.kind"):
        load_stage_config({}, ["schedule.kind=linear"])
    with pytest.raises(ConfigError, match="lr"):
        load_stage_config({"optimizer": {"lr": -1.0}})


STAGE_CONFIGS = sorted(p for p in CONFIGS.rglob("*.toml") if "mixtures" not in p.relative_to(CONFIGS).parts)


@pytest.mark.parametrize("path", STAGE_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_recipe_files_load(path):
    config = load_stage_config(path)
    from dexego.train.build import policy_config, stage_mixture

    assert stage_mixture(config) and config.output_dir  # inline datasets, or a readable mixture file

    assert policy_config(config).action_space == config.data.representation


def test_recipes_carry_the_papers_defaults():
    pre = load_stage_config(CONFIGS / "pretrain.toml")
    post = load_stage_config(CONFIGS / "finetune.toml")
    mid = load_stage_config(CONFIGS / "midtrain.toml")
    assert (pre.optimizer.lr, pre.schedule.kind, pre.loop.epochs) == (1e-4, "cosine", 20)
    assert (post.optimizer.lr, post.loop.epochs, post.schedule.milestones, post.schedule.gamma) == (
        2e-5,
        115,
        (100.0,),
        0.1,
    )
    assert post.schedule.kind == "step"  # EgoVLA: constant 2e-5, 2e-6 after 100 epochs
    assert mid.init_from == pre.output_dir and post.init_from == mid.output_dir
    weights = {Path(s.path).name: s.weight for s in mid.data.sources}
    assert len(weights) == 2 and max(weights.values()) / min(weights.values()) == pytest.approx(50 / 4)


# -------------------------------------------------------------- schedule
def test_cosine_with_warmup_known_values():
    config = ScheduleConfig(kind="cosine", warmup_steps=2, min_lr_ratio=0.1)
    factors = [lr_factor(config, s, total_steps=12, steps_per_epoch=4) for s in range(12)]
    assert factors[:2] == [0.5, 1.0]
    assert factors[2] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1)
    assert factors[2 + 9 // 2] < 1.0 and all(a >= b for a, b in zip(factors[2:], factors[3:]))
    assert lr_factor(config, 6, 12, 4) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 4 / 9)))


def test_step_schedule_in_epochs_and_constant():
    config = ScheduleConfig(kind="step", milestones=(2.0, 3.0), gamma=0.1)
    assert [lr_factor(config, s, 100, 5) for s in (0, 9, 10, 14, 15)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    assert lr_factor(ScheduleConfig(kind="constant", warmup_steps=4), 1, 10, 5) == 0.5
    assert lr_factor(ScheduleConfig(kind="constant", warmup_steps=4), 9, 10, 5) == 1.0


def test_scheduler_drives_the_optimizer_lr():
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = build_scheduler(optimizer, ScheduleConfig(kind="step", milestones=(3,), milestone_unit="step"), 10, 1)
    lrs = []
    for _ in range(5):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.2, 0.2, 0.2, 0.02, 0.02])


# --------------------------------------------------------------- sampler
def test_sampler_is_a_function_of_seed_and_epoch_and_resumes_mid_epoch():
    sampler = MixtureSampler([10, 6], seed=3)
    sampler.set_epoch(1)
    full = list(sampler)
    assert sorted(full) == list(range(16))  # unweighted: every sample once
    sampler.set_epoch(0)
    assert list(sampler) != full
    sampler.set_epoch(1)
    sampler.set_start(5)
    assert list(sampler) == full[5:] and len(sampler) == 11
    assert list(MixtureSampler([10, 6], seed=3).epoch_indices(1)) == full


def test_sampler_weights_set_the_share_of_each_source():
    sampler = MixtureSampler([100, 10], weights=[1.0, 1.0], seed=0)
    indices = sampler.epoch_indices(0)
    from_small = int((indices >= 100).sum())
    assert len(indices) == 110 and from_small == 55  # up-weighted beyond its size: repeated passes
    counts = np.bincount(indices[indices >= 100].numpy() - 100, minlength=10)
    assert counts.min() >= 5 and counts.max() <= 6  # whole shuffled passes, then a partial one


def test_sampler_shards_disjointly_across_processes():
    shards = []
    for rank in range(3):
        sampler = MixtureSampler([20], seed=1, rank=rank, world_size=3)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    assert all(len(s) == 6 for s in shards)
    assert len(set(sum(shards, []))) == 18


# ------------------------------------------------------------ state files
def test_state_round_trip_without_pickle(tmp_path):
    param = torch.nn.Parameter(torch.randn(3, 2))
    optimizer = torch.optim.AdamW([param], lr=1e-3, betas=(0.8, 0.95))
    param.grad = torch.randn(3, 2)
    optimizer.step()
    save_state(tmp_path, "optimizer", optimizer.state_dict())
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))
    restored = torch.optim.AdamW([torch.nn.Parameter(param.detach().clone())], lr=5.0)
    restored.load_state_dict(load_state(tmp_path, "optimizer"))
    original, loaded = optimizer.state_dict(), restored.state_dict()
    assert loaded["param_groups"][0]["lr"] == 1e-3 and tuple(loaded["param_groups"][0]["betas"]) == (0.8, 0.95)
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(original["state"][0][key], loaded["state"][0][key])


def test_rng_states_round_trip(tmp_path):
    save_state(tmp_path, "rng", rng_state())
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    set_rng_state(load_state(tmp_path, "rng"))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_corrupt_state_file_names_the_file(tmp_path):
    (tmp_path / "scheduler.json").write_text("{not json")
    with pytest.raises(InputError, match="scheduler.json"):
        load_state(tmp_path, "scheduler")


# ------------------------------------------------------------ checkpoints
def _fill(step):
    def fill(tmp):
        (tmp / ckpt.WEIGHTS_FILE).write_bytes(b"w")
        (tmp / ckpt.STATE_FILE).write_text(json.dumps({"step": step}))

    return fill


def test_publish_is_atomic_and_prune_keeps_the_last_k(tmp_path):
    for step in (5, 10, 15, 20):
        ckpt.publish_dir(tmp_path / ckpt.CHECKPOINTS / ckpt.checkpoint_name(step), _fill(step))
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [f"step-{s:08d}" for s in (5, 10, 15, 20)]

    def failing(tmp):
        (tmp / "partial").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ckpt.publish_dir(tmp_path / ckpt.CHECKPOINTS / ckpt.checkpoint_name(25), failing)
    assert ckpt.latest_checkpoint(tmp_path).name == "step-00000020"
    leftover = tmp_path / ckpt.CHECKPOINTS / ".tmp-step-00000030-1"  # what a killed writer leaves
    leftover.mkdir()
    ckpt.prune_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in (tmp_path / ckpt.CHECKPOINTS).iterdir()) == ["step-00000015", "step-00000020"]


def test_incomplete_checkpoint_is_not_listed_and_init_from_resolution(tmp_path):
    ckpt.publish_dir(tmp_path / ckpt.CHECKPOINTS / ckpt.checkpoint_name(3), _fill(3))
    (tmp_path / ckpt.CHECKPOINTS / "step-00000009").mkdir()  # no state.json: not complete
    assert ckpt.latest_checkpoint(tmp_path).name == "step-00000003"
    assert ckpt.resolve_weights(tmp_path) == tmp_path / ckpt.CHECKPOINTS / "step-00000003" / ckpt.WEIGHTS_FILE
    ckpt.publish_dir(tmp_path / ckpt.FINAL, _fill(3))
    assert ckpt.resolve_weights(tmp_path) == tmp_path / ckpt.FINAL / ckpt.WEIGHTS_FILE
    with pytest.raises(InputError, match="init_from"):
        ckpt.resolve_weights(tmp_path / "nothing")


# ------------------------------------------------------- parameters / EMA
def test_ema_update_known_values():
    from dexego.train.parameters import EMA

    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    ema = EMA(layer, decay=0.75)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    ema.update(layer)
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 1.5))  # 0.75 * 1 + 0.25 * 3
    assert torch.equal(ema.state_dict_for(layer)["weight"], ema.shadow["weight"])


def test_initial_weights_copy_matching_tensors_only(tmp_path):
    from safetensors.torch import save_file

    from dexego.train.parameters import load_initial_weights

    source = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    save_file(
        {k: v.contiguous() for k, v in source.state_dict().items()} | {"extra": torch.zeros(1)},
        str(tmp_path / "w.safetensors"),
    )
    target = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 5))  # a new output layer
    report = load_initial_weights(target, tmp_path / "w.safetensors")
    assert report["loaded"] == ["0.bias", "0.weight"] and report["initialised"] == ["1.bias", "1.weight"]
    assert report["ignored"] == ["1.bias", "1.weight", "extra"]
    assert torch.equal(target[0].weight, source[0].weight)
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 5))
    kept_bias = fresh[0].bias.detach().clone()
    report = load_initial_weights(fresh, tmp_path / "w.safetensors", skip=("0.bias",))
    assert report["loaded"] == ["0.weight"] and torch.equal(fresh[0].bias, kept_bias)
    with pytest.raises(InputError, match="no tensor matches"):
        load_initial_weights(torch.nn.Linear(7, 7), tmp_path / "w.safetensors")
