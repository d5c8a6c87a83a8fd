"""The long-horizon tasks' detectors on hand-built states that must and must not satisfy them."""

import numpy as np
import pytest

from dexego.sim.checks import TaskState
from dexego.sim.scene import TABLE_TOP_Z
from dexego.sim.tasks import get_task, task_names
from dexego.sim.tasks.cans import CAN_H, Container, hand_reached, per_can_subtasks, standing_on_table

FAR = np.full((2, 5, 3), 5.0)
UPRIGHT = np.array([1.0, 0, 0, 0])
LYING = np.array([np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0])
ON_TABLE = TABLE_TOP_Z + CAN_H / 2


def tips_at(point, side=1):
    tips = FAR.copy()
    tips[side] = np.asarray(point) + np.random.default_rng(0).normal(0, 0.005, (5, 3))
    return tips


def state(pos, quat=None, tips=FAR, joints=None, sites=None):
    quat = quat or {}
    return TaskState(
        fingertips=tips,
        body_pos={k: np.asarray(v, dtype=np.float64) for k, v in pos.items()},
        body_quat={k: quat.get(k, UPRIGHT) for k in pos},
        joint_pos=joints or {},
        site_pos=sites or {},
    )


def flags(task, s, s0):
    return dict(zip(task.subtasks, task.check(s, s0)))


def test_long_horizon_tasks_are_registered_after_the_short_ones():
    names = task_names()
    long = task_names(long_horizon=True)
    assert long == ["Sort-Cans", "Insert-Cans", "Unload-Cans", "Insert-And-Unload-Cans", "Stack-Can-Into-Drawer"]
    assert names[-5:] == long  # appended: the short tasks keep their protocol seeds
    for name in long:
        task = get_task(name)
        assert 300 <= task.horizon <= 900 and task.subtasks[-1] == "success"
    assert get_task("Sort-Cans").horizon == 900
    assert get_task("sort_cans").instruction == "Put sprite cans to the left box, and orange cans to the right box"


def test_container_geometry_and_predicates():
    box = Container(inner_x=0.2, inner_y=0.12, wall_h=0.04)
    origin = np.array([0.4, 0.3, TABLE_TOP_Z])
    resting = TABLE_TOP_Z + box.floor + CAN_H / 2
    assert box.contains([0.49, 0.35, resting], origin)
    assert not box.contains([0.51, 0.3, resting], origin)  # beyond the inner wall in x
    assert not box.contains([0.4, 0.3, resting + 0.05], origin)  # held above the box
    assert box.outside([0.4, 0.38, ON_TABLE], origin) and not box.outside([0.4, 0.36, ON_TABLE], origin)
    tray = Container(inner_x=0.1, inner_y=0.21, wall_h=0.036, slots=2)
    assert np.allclose(tray.slot_offsets(), [[0, -0.055], [0, 0.055]])
    assert "<geom" in tray.xml("tray") and tray.xml("tray").count("<geom") == 6  # floor, 4 walls, 1 divider
    assert standing_on_table([0.4, 0, ON_TABLE], UPRIGHT)
    assert not standing_on_table([0.4, 0, ON_TABLE], LYING)
    assert not standing_on_table([0.4, 0, ON_TABLE + 0.05], UPRIGHT)  # in the air
    assert not standing_on_table([0.4, 0, 0.3], UPRIGHT)  # fell off the table
    assert hand_reached(tips_at([0.4, 0, 1.05], side=0), 0, [0.4, 0, 1.1])
    assert not hand_reached(tips_at([0.4, 0, 1.05], side=0), 1, [0.4, 0, 1.1])
    assert per_can_subtasks(("reach", "lift"), ("a", "b")) == ("reach_a", "reach_b", "lift_a", "lift_b", "success")


# --------------------------------------------------------------------------- Sort-Cans
@pytest.fixture
def sort_scene():
    task = get_task("Sort-Cans")
    left, right = np.array([0.38, 0.33, TABLE_TOP_Z]), np.array([0.38, -0.33, TABLE_TOP_Z])
    cans = {
        "sprite1": [0.3, 0.06, ON_TABLE],
        "sprite2": [0.46, 0.115, ON_TABLE],
        "fanta1": [0.3, -0.06, ON_TABLE],
        "fanta2": [0.46, -0.115, ON_TABLE],
    }
    pos = dict(cans, box_left=left, box_right=right)
    return task, pos, state(pos)


def test_sort_cans_initial_layout_counts_nothing(sort_scene):
    task, pos, s0 = sort_scene
    assert not any(task.check(s0, s0))
    assert len(task.subtasks) == 13


def test_sort_cans_reach_and_lift_are_per_can(sort_scene):
    task, pos, s0 = sort_scene
    lifted = dict(pos, fanta2=np.add(pos["fanta2"], [0, 0, 0.07]))
    f = flags(task, state(lifted, tips=tips_at(lifted["fanta2"])), s0)
    assert f["reach_fanta2"] and f["lift_fanta2"]
    assert not f["lift_fanta1"] and not f["reach_sprite1"] and not f["success"]
    f = flags(task, state(dict(pos, fanta2=np.add(pos["fanta2"], [0, 0, 0.05]))), s0)
    assert not f["lift_fanta2"]


def test_sort_cans_needs_each_can_in_its_own_box(sort_scene):
    task, pos, s0 = sort_scene
    floor = TABLE_TOP_Z + task.BOX.floor + CAN_H / 2
    in_left = lambda dx: [pos["box_left"][0] + dx, pos["box_left"][1], floor]  # noqa: E731
    in_right = lambda dx: [pos["box_right"][0] + dx, pos["box_right"][1], floor]  # noqa: E731
    good = dict(pos, sprite1=in_left(0.05), sprite2=in_left(-0.05), fanta1=in_right(0.05), fanta2=in_right(-0.05))
    f = flags(task, state(good), s0)
    assert f["success"] and all(f[f"sort_{c}"] for c in task.cans)
    three = dict(good, fanta2=pos["fanta2"])
    f = flags(task, state(three), s0)
    assert not f["success"] and not f["sort_fanta2"] and f["sort_fanta1"]
    swapped = dict(good, sprite1=in_right(0.05), fanta1=in_left(0.05))  # Sprite in the right box: wrong
    f = flags(task, state(swapped), s0)
    assert not f["success"] and not f["sort_sprite1"] and not f["sort_fanta1"] and f["sort_sprite2"]
    lying = dict(good, sprite1=[in_left(0.05)[0], in_left(0.05)[1], TABLE_TOP_Z + task.BOX.floor + 0.03])
    assert flags(task, state(lying, quat={"sprite1": LYING}), s0)["sort_sprite1"]  # sorting does not need upright


# --------------------------------------------------------------------------- tray tasks
def tray_state(task, can_right, can_left, tray=(0.45, 0.0), quat=None, tips=FAR):
    pos = {"can_right": can_right, "can_left": can_left, "tray": [*tray, TABLE_TOP_Z]}
    return state(pos, quat=quat, tips=tips)


def in_slot(task, k, tray=(0.45, 0.0), lift=0.0):
    xy = np.asarray(tray) + task.TRAY.slot_offsets()[k]
    return [*xy, TABLE_TOP_Z + task.TRAY.floor + CAN_H / 2 + lift]


def test_insert_cans():
    task = get_task("Insert-Cans")
    out_r, out_l = [0.4, -0.21, ON_TABLE], [0.4, 0.21, ON_TABLE]
    s0 = tray_state(task, out_r, out_l)
    assert not any(task.check(s0, s0))
    f = flags(task, tray_state(task, in_slot(task, 0), out_l), s0)
    assert f["insert_can_right"] and not f["insert_can_left"] and not f["success"]
    f = flags(task, tray_state(task, in_slot(task, 0), in_slot(task, 1)), s0)
    assert f["success"] and f["insert_can_right"] and f["insert_can_left"] and not f["lift_can_left"]
    hovering = in_slot(task, 1, lift=0.04)  # above the insert height
    assert task.TRAY.insert_height(np.array([0.45, 0, TABLE_TOP_Z])) < hovering[2]
    assert not flags(task, tray_state(task, in_slot(task, 0), hovering), s0)["insert_can_left"]
    beside = [0.45, 0.2, TABLE_TOP_Z + task.TRAY.floor + CAN_H / 2]  # low but outside the footprint
    assert not flags(task, tray_state(task, in_slot(task, 0), beside), s0)["insert_can_left"]
    f = flags(task, tray_state(task, [0.4, -0.21, ON_TABLE + 0.07], out_l, tips=tips_at([0.4, -0.15, 1.1])), s0)
    assert f["lift_can_right"] and f["reach_can_right"] and not f["lift_can_left"]


def test_unload_cans_needs_upright_cans_on_the_table_outside_the_tray():
    task = get_task("Unload-Cans")
    s0 = tray_state(task, in_slot(task, 0), in_slot(task, 1))
    assert not any(task.check(s0, s0))
    out_r, out_l = [0.44, -0.2, ON_TABLE], [0.44, 0.2, ON_TABLE]
    f = flags(task, tray_state(task, out_r, in_slot(task, 1)), s0)
    assert f["unload_can_right"] and not f["unload_can_left"] and not f["success"]
    assert flags(task, tray_state(task, out_r, out_l), s0)["success"]
    assert not flags(task, tray_state(task, out_r, out_l, quat={"can_left": LYING}), s0)["unload_can_left"]
    assert not flags(task, tray_state(task, out_r, [0.44, 0.2, ON_TABLE + 0.1]), s0)["unload_can_left"]  # still held
    assert not flags(task, tray_state(task, out_r, [0.44, 0.2, 0.05]), s0)["unload_can_left"]  # on the floor
    assert not flags(task, tray_state(task, out_r, [0.45, 0.05, ON_TABLE + 0.04]), s0)["unload_can_left"]  # on the tray


def test_insert_and_unload_counts_unloading_only_after_insertion():
    task = get_task("Insert-And-Unload-Cans")
    out_r, out_l = [0.4, -0.21, ON_TABLE], [0.4, 0.21, ON_TABLE]
    s0 = tray_state(task, out_r, out_l)
    assert not any(task.check(s0, s0))  # outside, upright, on the table, but never inserted: not unloaded
    f = flags(task, tray_state(task, [0.44, -0.2, ON_TABLE], [0.44, 0.2, ON_TABLE]), s0)
    assert not f["unload_can_right"] and not f["unload_can_left"] and not f["success"]
    f = flags(task, tray_state(task, in_slot(task, 0), out_l), s0)
    assert f["insert_can_right"] and not f["unload_can_right"]
    f = flags(task, tray_state(task, [0.44, -0.2, ON_TABLE], out_l), s0)
    assert f["unload_can_right"] and not f["unload_can_left"] and not f["success"]
    flags(task, tray_state(task, [0.44, -0.2, ON_TABLE], in_slot(task, 1)), s0)
    f = flags(task, tray_state(task, [0.44, -0.2, ON_TABLE], [0.44, 0.2, ON_TABLE]), s0)
    assert f["success"] and f["unload_can_left"] and f["unload_can_right"]
    # A new episode (a new initial state) starts without remembered insertions.
    s1 = tray_state(task, out_r, out_l)
    f = flags(task, tray_state(task, [0.44, -0.2, ON_TABLE], [0.44, 0.2, ON_TABLE]), s1)
    assert not f["success"] and not f["unload_can_right"]


# --------------------------------------------------------------------------- Stack-Can-Into-Drawer
def test_stack_can_into_drawer_needs_the_can_on_the_plate_and_the_drawer_closed():
    task = get_task("Stack-Can-Into-Drawer")
    handle = np.array([0.3, 0.22, TABLE_TOP_Z + 0.075])
    plate = np.array([0.43, -0.03, TABLE_TOP_Z + task.PLATE_H / 2])
    can0 = np.array([0.4, -0.17, ON_TABLE])
    on_plate = plate + [0.02, 0, task.PLATE_H / 2 + CAN_H / 2 + 0.003]

    def at(can, q, tips=FAR):
        return state({"can": can, "plate": plate, "cabinet": [0.56, 0.22, 1.0], "drawer": [0.56, 0.22, 1.0]}, tips=tips,
                     joints={"drawer_slide": q}, sites={"drawer_handle": handle})  # fmt: skip

    s0 = at(can0, task.RANGE)
    assert task.check(s0, s0) == (False, False, False, False)
    assert task.check(at(can0, task.RANGE, tips_at(handle + [0, 0, 0.05], side=0)), s0) == (True, False, False, False)
    assert task.check(at(can0, task.RANGE, tips_at(handle + [0, 0, 0.05], side=1)), s0) == (
        False,
        False,
        False,
        False,
    )  # wrong hand
    assert task.check(at(can0, task.RANGE, tips_at(can0, side=1)), s0) == (False, True, False, False)
    assert task.check(at(can0, task.RANGE, tips_at(can0, side=0)), s0) == (False, False, False, False)  # wrong hand
    assert task.check(at(can0 + [0, 0, 0.07], task.RANGE), s0) == (False, False, True, False)
    assert task.check(at(on_plate, 0.0), s0)[-1]
    assert not task.check(at(on_plate, 0.2 * task.RANGE), s0)[-1]  # drawer not closed
    assert not task.check(at(on_plate + [0, 0, 0.025], 0.0), s0)[-1]  # gap above the plate
    assert not task.check(at(on_plate + [task.PLATE_R, 0, 0], 0.0), s0)[-1]  # beside the plate
