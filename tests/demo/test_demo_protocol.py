"""The look protocol holds for every shipped profile: no evaluation look or seed in any training data.

Proved from what the recorder writes: tiny recordings (1 episode per kind of dataset a profile trains on, with the
profile's seeds and looks) show that the metadata the recorder writes is the attempt plan of
``dexego.sim.demos.attempt_plan``; that plan, over every attempt a recording of the profile may use, is then
checked against every evaluation rollout the profile runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dexego.demo.pipeline import Arm, arm_data_dir, robot_data_sets, robot_looks, training_datasets
from dexego.demo.profile import PROFILE_FILE, PROFILES_DIR, load_profile
from dexego.demo.protocol import ProtocolViolation, check_disjoint, evaluation_rollouts, recorded_episodes
from dexego.sim.demos import attempt_plan, record_demos
from dexego.sim.scene import EVAL_LOOKS

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*PROFILES_DIR.glob(f"*/{PROFILE_FILE}"), *(ROOT / "experiments").glob(f"**/{PROFILE_FILE}")])
MAX_ATTEMPTS_FACTOR = 2.0  # record_demos' default: at most episodes * 2 + 5 attempts


def planned_datasets(loaded):
    """(embodiment, episodes, seed, looks) of every dataset the demo records for this profile."""
    p = loaded.profile
    plans = [("human", p.data.human_episodes, p.data.seed, p.looks.human)] if p.data.human_tasks else []
    plans += [("robot", p.data.robot_episodes, p.data.seed, robot_looks(loaded, w)) for _, w in robot_data_sets(loaded)]
    return plans + [("robot", p.data.heldout_robot_episodes, p.data.seed + 1, p.looks.robot)]


def test_profiles_are_found():
    names = {path.parent.name for path in SHIPPED}
    assert {"micro", "quick", "full"} <= names and len(SHIPPED) >= 5, names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_no_evaluation_look_or_seed_can_reach_training_data(path):
    loaded = load_profile(path.parent)
    rollouts = evaluation_rollouts(loaded.profile)
    assert rollouts and {(s.room, s.table) for s in rollouts if s.split == "unseen"} <= set(
        loaded.profile.looks.evaluation
    )
    eval_seeds = {s.seed for s in rollouts}
    eval_looks = set(loaded.profile.looks.evaluation)
    for embodiment, episodes, seed, looks in planned_datasets(loaded):
        limit = int(episodes * MAX_ATTEMPTS_FACTOR) + 5 + 2  # + a worker batch's overshoot
        plan = [attempt_plan(i, seed, looks) for i in range(limit)]
        assert not {s for s, _, _ in plan} & eval_seeds, (path, embodiment)
        assert not {(r, t) for _, r, t in plan} & eval_looks, (path, embodiment)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Tiny recordings, shared between profiles that record with the same settings."""
    cache: dict = {}
    root = tmp_path_factory.mktemp("protocol")

    def record(task, embodiment, seed, looks):
        key = (task, embodiment, seed, looks)
        if key not in cache:
            out = root / f"d{len(cache)}" / task
            record_demos(task, 1, out, seed=seed, image_size=32, embodiment=embodiment, looks=looks)
            cache[key] = out
        return cache[key]

    return record


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_recorded_metadata_follows_the_plan_and_passes_the_check(path, recordings):
    loaded = load_profile(path.parent)
    p = loaded.profile
    datasets = []
    for embodiment, _, seed, looks in planned_datasets(loaded):
        task = p.data.human_tasks[0] if embodiment == "human" else p.data.robot_tasks[0]
        datasets.append(recordings(task, embodiment, seed, looks))
        for episode in recorded_episodes(datasets[-1]):
            attempt = episode["seed"] - seed * 1_000_000
            assert (episode["seed"], episode["room"], episode["table"]) == attempt_plan(attempt, seed, looks)
    report = check_disjoint(datasets, p)
    assert report["disjoint"] and report["training_episodes"] == len(datasets)


def test_a_training_episode_on_an_evaluation_look_is_refused(tmp_path):
    loaded = load_profile("micro")
    bad = tmp_path / "bad" / "Push-Box"
    record_demos("Push-Box", 1, bad, image_size=32, embodiment="robot", looks=EVAL_LOOKS[:1])
    with pytest.raises(ProtocolViolation, match="evaluation-only look"):
        check_disjoint([bad], loaded.profile)


def test_pipeline_checks_every_dataset_it_trains_on(tmp_path):
    loaded = load_profile(ROOT / "experiments" / "human_transfer" / "profile")
    paths = training_datasets(loaded, tmp_path)
    vr = arm_data_dir(tmp_path, Arm("x", pretrained=False, robot_looks="robot+human"))
    half = arm_data_dir(tmp_path, Arm("x", robot_fraction=0.5))
    for root in (
        tmp_path / "data" / "human",
        tmp_path / "data" / "robot",
        vr,
        half,
        tmp_path / "data" / "robot_heldout",
    ):
        assert any(p.parent == root for p in paths), root
