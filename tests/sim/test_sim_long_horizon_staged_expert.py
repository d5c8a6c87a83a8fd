"""Staged expert plans: each stage planned from the observation at its start (Insert-And-Unload-Cans uses it)."""

import numpy as np
import pytest

from dexego.geometry import matrix_to_rot6d, rot6d_to_matrix
from dexego.sim import checks
from dexego.sim.env import HumanoidTaskEnv
from dexego.sim.expert import CONTROL_HZ, ScriptedExpert
from dexego.sim.human_demos import TaskExpert
from dexego.sim.scene import TABLE_TOP_Z
from dexego.sim.tasks import get_task
from dexego.sim.tasks.base import Task, Waypoint
from dexego.sim.tasks.cans import CAN_H, GRASP_CLOSED, HOME, PALM_DOWN, WRIST_BEHIND, idle_for, two_hand_waypoints

EYE2 = np.stack([np.eye(3), np.eye(3)])


def observation(target) -> dict:
    pos = np.array([[0.2, 0.2, 1.2], [0.2, -0.2, 1.2]])
    return {
        "ee_pose": np.concatenate([pos, matrix_to_rot6d(EYE2)], axis=1),
        "hand_joint_pos": np.zeros((2, 6)),
        "object_poses": np.array([[*target, 1.0, 0.0, 0.0, 0.0]]),
    }


def to_object(obs, duration: float, hand: float) -> list[Waypoint]:
    """Both wrists go to the observed object in ``duration`` seconds."""
    p = np.asarray(obs["object_poses"][0][:3], dtype=np.float64)
    return [Waypoint(duration, np.stack([p, p]), EYE2.copy(), np.full((2, 6), hand))]


class TwoStageTask(Task):
    name = "Two-Stage-Test"
    expert_stages = 2

    def __init__(self):
        self.stage_calls = []

    def expert_plan(self, obs, rng):
        return to_object(obs, 0.1, 0.0)  # 3 control steps

    def expert_stage_plan(self, stage, obs, rng, start):
        self.stage_calls.append((stage, obs, start))
        return to_object(obs, 0.2, 1.0)  # 6 control steps


class OneStageTask(TwoStageTask):
    expert_stages = 1

    def expert_stage_plan(self, stage, obs, rng, start):
        raise AssertionError("a one-stage task is never replanned")


def wrist(action) -> np.ndarray:
    return np.asarray(action).reshape(2, 15)[:, :3]


def test_the_next_stage_is_planned_from_the_observation_where_the_last_one_ended():
    task = TwoStageTask()
    expert = TaskExpert(task)
    expert.reset(3)
    first, moved = observation([0.5, 0.0, 1.1]), observation([0.6, 0.1, 1.05])
    actions = [expert.act(first) for _ in range(3)]
    assert np.allclose(wrist(actions[-1]), [0.5, 0.0, 1.1]) and not task.stage_calls
    actions += [expert.act(moved) for _ in range(8)]
    assert len(task.stage_calls) == 1  # planned once, at the step after stage 0's last waypoint
    stage, obs, start = task.stage_calls[0]
    assert stage == 1 and obs is moved
    # The stage starts from stage 0's last commanded waypoint, so the command moves on smoothly from there.
    assert np.allclose(start.pos, [[0.5, 0.0, 1.1]] * 2) and np.allclose(start.hand, 0.0)
    step = np.linalg.norm(wrist(actions[3]) - wrist(actions[2]), axis=1)
    assert np.all(step < 0.02)
    assert np.allclose(wrist(actions[8]), [0.6, 0.1, 1.05]) and np.allclose(wrist(actions[-1]), [0.6, 0.1, 1.05])
    assert np.allclose(np.asarray(actions[-1]).reshape(2, 15)[:, 9:], 1.0)
    np.testing.assert_allclose(rot6d_to_matrix(np.asarray(actions[-1]).reshape(2, 15)[:, 3:9]), EYE2, atol=1e-9)


def test_a_reset_starts_again_from_stage_zero():
    task = TwoStageTask()
    expert = TaskExpert(task)
    for seed in (0, 1):
        expert.reset(seed)
        for _ in range(12):
            expert.act(observation([0.5, 0.0, 1.1]))
    assert [c[0] for c in task.stage_calls] == [1, 1]


def test_a_one_stage_plan_holds_its_last_waypoint():
    expert = TaskExpert(OneStageTask())
    expert.reset(0)
    actions = [expert.act(observation([0.5, 0.0, 1.1])) for _ in range(10)]
    assert np.allclose(wrist(actions[-1]), [0.5, 0.0, 1.1]) and np.allclose(actions[-1], actions[3])


def test_two_hand_waypoints_start_from_the_given_pose():
    start = Waypoint(0.0, np.array([[0.4, 0.1, 1.2], [0.4, -0.1, 1.2]]), EYE2.copy(), np.ones((2, 6)))
    right = [
        (1.0, np.array([0.3, -0.3, 1.1]), PALM_DOWN, np.zeros(6)),
        (1.0, np.array([0.3, -0.2, 1.1]), PALM_DOWN, np.zeros(6)),
    ]
    rng = np.random.default_rng(0)
    plan = two_hand_waypoints(idle_for(right, 0), right, rng, start)
    # The idle left hand is half-way from its start to home when the right reaches its first step.
    assert np.allclose(plan[0].pos[0], (start.pos[0] + HOME[0]) / 2) and np.allclose(plan[0].hand[0], 0.5)
    assert np.allclose(plan[-1].pos[0], HOME[0]) and np.allclose(plan[-1].pos[1], [0.3, -0.2, 1.1])
    default = two_hand_waypoints(idle_for(right, 0), right, np.random.default_rng(0))
    assert np.allclose(default[0].pos[0], HOME[0])  # without a start the hands start at home


def tray_observation(task, can_right_offset=(0.0, 0.0)) -> dict:
    tray = np.array([0.45, 0.02, TABLE_TOP_Z])
    z = TABLE_TOP_Z + task.TRAY.floor + CAN_H / 2
    slots = task.TRAY.slot_offsets()
    poses = [[*(tray[:2] + slots[0] + can_right_offset), z], [*(tray[:2] + slots[1]), z], list(tray)]
    return {"object_poses": np.array([[*p, 1.0, 0.0, 0.0, 0.0] for p in poses])}


def first_grasp(plan, side: int) -> np.ndarray:
    return next(w.pos[side] for w in plan if np.allclose(w.hand[side], GRASP_CLOSED))


def test_insert_and_unload_grasps_each_can_where_it_rests():
    task = get_task("Insert-And-Unload-Cans")
    assert task.expert_stages == 3
    start = Waypoint(0.0, np.stack([HOME[0], HOME[1]]), np.stack([PALM_DOWN, PALM_DOWN]), np.zeros((2, 6)))
    nominal = task.expert_stage_plan(1, tray_observation(task), np.random.default_rng(5), start)
    shifted = task.expert_stage_plan(1, tray_observation(task, (0.015, -0.012)), np.random.default_rng(5), start)
    # Stage 1 unloads the right can: its grasp follows the can's observed position exactly.
    np.testing.assert_allclose(first_grasp(shifted, 1) - first_grasp(nominal, 1), [0.015, -0.012, 0.0], atol=1e-12)
    can = tray_observation(task)["object_poses"][0][:3]
    assert first_grasp(nominal, 1)[0] == pytest.approx(can[0] - WRIST_BEHIND, abs=0.012)
    assert all(np.allclose(w.hand[0], 0.0) for w in nominal)  # the left hand stays open meanwhile
    # Stage 2 unloads the left can with the left hand.
    left = task.expert_stage_plan(2, tray_observation(task), np.random.default_rng(5), start)
    assert first_grasp(left, 0)[1] > can[1] and all(np.allclose(w.hand[1], 0.0) for w in left)
    with pytest.raises(NotImplementedError):
        get_task("Insert-Cans").expert_stage_plan(1, tray_observation(task), np.random.default_rng(0), start)


def test_insert_cans_sets_the_cans_down_upright_near_their_slot_centres():
    env = HumanoidTaskEnv("Insert-Cans", render=False, end_on_success=False)
    obs, _ = env.reset(seed=6, options={"room": 1, "table": 1})
    expert = ScriptedExpert("Insert-Cans")
    expert.reset(6)
    after = None  # steps left once the task succeeded: the left hand lets go and leaves
    while after != 0:
        obs, _, _, truncated, info = env.step(expert.act(obs))
        assert not truncated, info["subtasks"]
        after = int(CONTROL_HZ) if after is None and info["success"] else (after - 1 if after else after)
    state = env.task_state()
    env.close()
    tray = state.body_pos["tray"]
    for k, can in enumerate(env.task.cans):
        off = np.linalg.norm(state.body_pos[can][:2] - tray[:2] - env.task.TRAY.slot_offsets()[k])
        assert off < 0.012, (can, off)  # dropped from above the walls instead, they landed 1.7-3.2 cm off here
        assert checks.upright(state.body_quat[can]) and env.task.TRAY.contains(state.body_pos[can], tray)
