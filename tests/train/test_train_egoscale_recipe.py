"""EgoScale's recipe as shipped (configs/cpu/egoscale): human pretraining (ego48) -> aligned human + robot
mid-training (ego48+robot:h1_inspire) -> robot fine-tuning, each stage a few steps, then closed loop in the simulator;
and the comparison arm (hand-space fine-tuning)."""

from pathlib import Path

import numpy as np
import pytest
from sim_robot_data import closed_loop, expert_rollouts, write_robot_dataset

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "cpu" / "egoscale"
TINY = ["model.tiny.image_size=32", "model.tiny.width=32", "model.tiny.depth=1", "model.tiny.heads=2", "model.regression.width=32",
        "model.regression.depth=1", "model.regression.heads=2", "model.horizon=8", "data.sample.image_size=[32, 32]",
        "loop.max_steps=2", "loop.batch_size=4", "loop.val_every=0", "loop.checkpoint_every=0", "loop.progress=false",
        "data.num_workers=0"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_shipped_recipe_runs_end_to_end_and_its_policies_run_closed_loop(tmp_path, monkeypatch):
    from dexego.sim.demos import record_demos
    from dexego.train.build import run_stage
    from dexego.train.config import load_stage_config

    monkeypatch.chdir(
        tmp_path
    )  # the configs read data/sim/* and write runs/cpu/egoscale/* relative to the working directory
    for task in ("Push-Box", "Close-Drawer"):
        record_demos(task, 1, tmp_path / "data" / "sim" / "human", image_size=32, embodiment="human")
        record_demos(task, 1, tmp_path / "data" / "sim" / "aligned_human", seed=1, image_size=32, embodiment="human")
    write_robot_dataset(tmp_path / "data" / "sim" / "aligned_robot", expert_rollouts(episodes=2, steps=40, seed=5))
    write_robot_dataset(tmp_path / "data" / "sim" / "robot", expert_rollouts(episodes=2, steps=40))
    for name in ("pretrain", "midtrain", "finetune", "finetune_hand_space"):
        result = run_stage(load_stage_config(RECIPE / f"{name}.toml", TINY))
        assert result.steps == 2 and np.isfinite(result.last_train_loss), name
    runs = tmp_path / "runs" / "cpu" / "egoscale"
    joints = closed_loop(runs / "finetune" / "final", steps=8)
    assert (
        joints["space"] == "ego48+robot:h1_inspire" and joints["solves"] == 0 and np.isfinite(joints["actions"]).all()
    )
    hand = closed_loop(runs / "finetune_hand_space" / "final", steps=8)
    assert hand["space"] == "ego48" and np.isfinite(hand["actions"]).all()
