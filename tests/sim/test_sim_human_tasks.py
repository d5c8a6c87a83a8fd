"""Human-only tasks: registry, mirroring, the two-handed task's detectors, object-size draws."""

import numpy as np
import pytest

from dexego.errors import ConfigError
from dexego.hands import hand_frame
from dexego.sim.checks import TaskState
from dexego.sim.env import PALM_DOWN
from dexego.sim.human_tasks import (
    SIZE_RANGES,
    all_task_names,
    get_any_task,
    human_task,
    human_task_names,
    is_human_only,
    mirror_pose,
    mirror_waypoints,
)
from dexego.sim.scene import TABLE_TOP_Z
from dexego.sim.tasks import task_names
from dexego.sim.tasks.base import Waypoint
from dexego.sim.tasks.short_horizon import SIDE_GRASP, StackCan


def test_human_only_tasks_are_registered_apart_from_the_benchmark():
    names = human_task_names()
    assert len(names) >= 4 and not set(names) & set(task_names())
    assert all_task_names() == task_names() + names
    assert is_human_only("stack_can_left") and not is_human_only("Stack-Can")
    assert get_any_task("stack-two-cans").name == "Stack-Two-Cans" and get_any_task("Push-Box").name == "Push-Box"
    with pytest.raises(ConfigError, match="Stack-Can-Left"):
        get_any_task("Juggle")


def test_mirrored_right_hand_is_a_left_hand_frame():
    # Keypoints of a right hand in frame R (index on -y... little on +y of the hand frame), reflected through y = 0.
    local = np.zeros((21, 3))
    local[5], local[9], local[17] = [0.09, -0.024, 0], [0.092, 0, 0], [0.078, 0.038, 0]
    rot = SIDE_GRASP
    kp = local @ rot.T + [0.4, -0.2, 1.05]
    assert np.allclose(hand_frame(kp, "right")[:3, :3], rot)
    mirrored = kp * [1, -1, 1]
    wp = Waypoint(
        1.0,
        np.array([[0.1, 0.2, 1.1], [0.4, -0.2, 1.05]]),
        np.stack([PALM_DOWN, rot]),
        np.array([np.zeros(6), np.arange(6.0)]),
    )
    m = mirror_waypoints([wp])[0]
    assert np.allclose(hand_frame(mirrored, "left")[:3, :3], m.rot[0])
    assert np.allclose(m.pos[0], [0.4, 0.2, 1.05]) and np.array_equal(m.hand[0], np.arange(6.0))
    back = mirror_waypoints([m])[0]
    assert np.allclose(back.pos, wp.pos) and np.allclose(back.rot, wp.rot) and np.array_equal(back.hand, wp.hand)
    pos, quat = mirror_pose(np.array([0.4, -0.1, 1.0]), np.array([np.cos(0.2), 0, 0, np.sin(0.2)]))
    assert np.allclose(pos, [0.4, 0.1, 1.0]) and np.allclose(quat, [np.cos(0.2), 0, 0, -np.sin(0.2)])


def test_left_hand_variant_mirrors_the_layout():
    right, left = get_any_task("Stack-Can"), get_any_task("Stack-Can-Left")
    a, b = right.sample_layout(np.random.default_rng(4)), left.sample_layout(np.random.default_rng(4))
    assert np.allclose(b["can"], a["can"] * [1, -1]) and np.allclose(b["plate"], a["plate"] * [1, -1])


def test_two_cans_needs_both_cans_stacked():
    task = get_any_task("Stack-Two-Cans")
    top = TABLE_TOP_Z + task.PLATE_H
    plate_r, plate_l = (
        np.array([0.47, -0.11, TABLE_TOP_Z + task.PLATE_H / 2]),
        np.array([0.47, 0.11, TABLE_TOP_Z + task.PLATE_H / 2]),
    )
    on = lambda plate: plate * [1, 1, 0] + [0.01, 0, top + task.CAN_H / 2 + 0.001]  # noqa: E731
    off = lambda plate: plate * [1, 1, 0] + [-0.1, 0, TABLE_TOP_Z + task.CAN_H / 2]  # noqa: E731

    def state(cr, cl):
        return TaskState(
            np.full((2, 5, 3), 5.0), body_pos={"can": cr, "plate": plate_r, "can_left": cl, "plate_left": plate_l}
        )

    s0 = state(off(plate_r), off(plate_l))
    assert task.check(s0, s0) == (False, False, False)
    assert task.check(state(on(plate_r), off(plate_l)), s0) == (False, True, False)
    assert task.check(state(off(plate_r), on(plate_l)), s0) == (True, False, False)
    assert task.check(state(on(plate_r), on(plate_l)), s0) == (True, True, True)
    assert task.check(state(on(plate_l), on(plate_r)), s0) == (False, False, False)  # each can on its own saucer


def test_object_sizes_are_drawn_per_seed_within_their_ranges():
    ranges = dict(SIZE_RANGES)[StackCan]
    a, sizes_a = human_task("Stack-Can-Left", seed=1)
    b, sizes_b = human_task("Stack-Can-Left", seed=1)
    _, sizes_c = human_task("Stack-Can-Left", seed=2)
    assert sizes_a == sizes_b and sizes_a != sizes_c and set(sizes_a) == set(ranges)
    for attr, (lo, hi) in ranges.items():
        assert lo <= getattr(a, attr) <= hi
    assert f'size="{a.CAN_R}' in a.scene().worldbody
    plain, none = human_task("Stack-Can", seed=1, randomize=False)
    assert none == {} and plain.CAN_R == StackCan.CAN_R and StackCan.CAN_R not in sizes_a.values()
