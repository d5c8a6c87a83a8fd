"""Each task's detectors on hand-built states that must and must not satisfy them."""

import numpy as np
import pytest

from dexego.sim import checks
from dexego.sim.checks import Progress, TaskState
from dexego.sim.scene import TABLE_TOP_Z
from dexego.sim.tasks import get_task

FAR = np.full((2, 5, 3), 5.0)
UPRIGHT = np.array([1.0, 0, 0, 0])
LYING = np.array([np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0])


def tips_at(point, side=1):
    tips = FAR.copy()
    tips[side] = np.asarray(point) + np.random.default_rng(0).normal(0, 0.005, (5, 3))
    return tips


def state(tips=FAR, **kw):
    return TaskState(
        fingertips=tips,
        body_pos=kw.get("pos", {}),
        body_quat=kw.get("quat", {}),
        joint_pos=kw.get("joints", {}),
        site_pos=kw.get("sites", {}),
    )


def test_reach_uses_the_nearer_hands_mean_fingertip():
    target = np.array([0.4, 0.0, 1.05])
    assert checks.reached(tips_at(target + [0.1, 0, 0]), target)
    assert not checks.reached(tips_at(target + [0.13, 0, 0]), target)
    assert checks.reached(tips_at(target + [0.125, 0, 0]), target, 0.13)
    assert checks.reached(tips_at(target, side=0), target)


def test_up_axis_and_lift():
    assert checks.up_axis_z(UPRIGHT) == pytest.approx(1.0)
    assert checks.up_axis_z(LYING) == pytest.approx(0.0, abs=1e-9)
    assert checks.upright(np.array([np.cos(0.4), np.sin(0.4), 0, 0]))  # tilted 46 deg
    assert not checks.upright(np.array([np.cos(0.6), np.sin(0.6), 0, 0]))  # tilted 69 deg
    assert checks.lifted(1.07, 1.01) and not checks.lifted(1.06, 1.01)


def test_push_box():
    task = get_task("Push-Box")
    box, goal = np.array([0.4, -0.1, 1.035]), np.array([0.4, -0.2, 1.0])
    s0 = state(pos={"box": box, "goal": goal}, quat={"box": UPRIGHT, "goal": UPRIGHT})
    assert task.check(s0, s0) == (False, False)
    s = state(tips_at(box + [0, 0.1, 0]), pos={"box": box, "goal": goal})
    assert task.check(s, s0) == (True, False)
    s = state(pos={"box": goal + [0.05, 0.05, 0.035], "goal": goal})
    assert task.check(s, s0) == (False, True)
    s = state(pos={"box": goal + [0.06, 0.06, 0.035], "goal": goal})
    assert task.check(s, s0)[1] is False


def test_flip_mug():
    task = get_task("Flip-Mug")
    mug = np.array([0.45, -0.1, 1.05])
    lying = state(pos={"mug": mug}, quat={"mug": LYING})
    assert task.check(lying, lying) == (False, False)
    assert task.check(state(tips_at(mug), pos={"mug": mug}, quat={"mug": LYING}), lying) == (True, False)
    assert task.check(state(pos={"mug": mug}, quat={"mug": UPRIGHT}), lying) == (False, True)


def test_pour_balls_counts_balls_in_the_bowl_and_needs_three():
    task = get_task("Pour-Balls")
    bowl = np.array([0.42, 0.06, TABLE_TOP_Z + task.BOWL_H / 2])
    cup = np.array([0.4, -0.16, TABLE_TOP_Z + task.CUP_H / 2])
    in_cup = {f"ball{i}": cup + [0, 0, -0.03] for i in range(8)}
    s0 = state(pos={"cup": cup, "bowl": bowl, **in_cup})
    assert task.check(s0, s0) == (False, False, False)
    lifted = state(tips_at(cup + [0, 0, 0.07]), pos={"cup": cup + [0, 0, 0.07], "bowl": bowl, **in_cup})
    assert task.check(lifted, s0) == (True, True, False)
    two = dict(in_cup, ball0=bowl + [0.02, 0, -0.005], ball1=bowl + [-0.03, 0.01, -0.005])
    assert task.balls_in_bowl(state(pos={"cup": cup, "bowl": bowl, **two})) == 2
    assert task.check(state(pos={"cup": cup, "bowl": bowl, **two}), s0)[2] is False
    three = dict(two, ball2=bowl + [0, 0.04, -0.005])
    assert task.check(state(pos={"cup": cup, "bowl": bowl, **three}), s0) == (False, False, True)
    outside = dict(two, ball2=bowl + [0.12, 0, -0.005])  # beside the bowl on the table
    assert task.check(state(pos={"cup": cup, "bowl": bowl, **outside}), s0)[2] is False


@pytest.mark.parametrize("name", ["Close-Drawer", "Open-Drawer"])
def test_drawers(name):
    task = get_task(name)
    handle = np.array([0.4, -0.06, 1.075])
    start, end = (task.RANGE, 0.0) if name == "Close-Drawer" else (0.0, task.RANGE)
    at = lambda q, tips=FAR: state(tips, joints={"drawer_slide": q}, sites={"drawer_handle": handle})  # noqa: E731
    s0 = at(start)
    assert task.check(s0, s0) == (False, False, False)
    assert task.check(at(start, tips_at(handle + [0, 0, 0.05])), s0) == (True, False, False)
    step = 0.11 * task.RANGE * (1 if end > start else -1)
    assert task.check(at(start + step), s0) == (False, True, False)
    assert task.check(at(start + step / 2), s0) == (False, False, False)
    assert task.check(at(end), s0) == (False, True, True)
    assert task.check(at(end - step), s0)[2] is False  # 11% short of fully open / closed


def test_open_laptop():
    task = get_task("Open-Laptop")
    at = lambda q: state(joints={"laptop_hinge": q})  # noqa: E731
    s0 = at(0.0)
    assert task.check(at(0.1 * task.RANGE), s0) == (False, False)
    assert task.check(at(0.2 * task.RANGE), s0) == (True, False)
    assert task.check(at(0.72 * task.RANGE), s0) == (True, True)


def test_stack_can():
    task = get_task("Stack-Can")
    plate = np.array([0.42, 0.05, TABLE_TOP_Z + task.PLATE_H / 2])
    top = plate[2] + task.PLATE_H / 2
    can_on = lambda dx, gap: {"can": plate + [dx, 0, 0] + [0, 0, top - plate[2] + gap + task.CAN_H / 2], "plate": plate}  # noqa: E731
    s0 = state(pos={"can": np.array([0.4, -0.14, TABLE_TOP_Z + task.CAN_H / 2]), "plate": plate})
    assert task.check(s0, s0) == (False, False)
    assert task.check(state(pos=can_on(0.02, 0.001)), s0) == (True, True)
    assert task.check(state(pos=can_on(0.02, 0.03)), s0) == (True, False)
    assert task.check(state(pos=can_on(0.02, 0.06)), s0) == (False, False)
    assert task.check(state(pos=can_on(task.PLATE_R + 0.01, 0.001)), s0) == (False, False)


def test_progress_is_monotone_and_success_is_its_own_last_subtask():
    p = Progress(("reach", "move", "success"))
    p.update((True, False, False))
    p.update((False, False, False))
    assert p.as_dict() == {"reach": True, "move": False, "success": False} and p.fraction == pytest.approx(1 / 3)
    p.update((False, False, True))  # success does not mark "move" done
    assert p.success and p.as_dict()["move"] is False and p.fraction == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        p.update((True, True))
    with pytest.raises(ValueError):
        Progress(("reach", "lift"))


def test_plan_segments_follow_the_first_pending_subtask():
    from dexego.sim.checks import plan_segments

    progress = [{"reach_drawer": False, "lift": False, "success": False}] * 3
    progress += [{"reach_drawer": True, "lift": False, "success": False}] * 2
    progress += [
        {"reach_drawer": True, "lift": True, "success": False},
        {"reach_drawer": True, "lift": True, "success": True},
    ]
    assert plan_segments(progress) == [[0, 3, "reach drawer"], [3, 5, "lift"], [5, 7, "finish the task"]]
    assert plan_segments([]) == []
