"""The five long-horizon tasks: Sort-Cans, Insert-Cans, Unload-Cans, Insert-And-Unload-Cans, Stack-Can-Into-Drawer.

Subtasks are counted per can (reach, lift, then sort / insert / unload), the
final success last. The experts use both hands: the left hand handles the
cans on the left (and the drawer), the right hand those on the right.
"""

from __future__ import annotations

import numpy as np

from dexego.sim import checks
from dexego.sim.checks import TaskState
from dexego.sim.scene import TABLE_TOP_Z, SceneObjects
from dexego.sim.tasks.base import Task, set_free_pose
from dexego.sim.tasks.cans import (
    CAN_H,
    FANTA_BAND,
    FANTA_RGBA,
    HAND_BELOW_WRIST,
    OPEN,
    PALM_DOWN,
    SPRITE_BAND,
    SPRITE_RGBA,
    Container,
    can_xml,
    hand_reached,
    home,
    idle_for,
    per_can_subtasks,
    pick_and_place,
    sequence,
    two_hand_waypoints,
    unloaded,
)
from dexego.sim.tasks.registry import register_task
from dexego.sim.tasks.short_horizon import HAND_LENGTH, DrawerTask, StackCan

LEFT, RIGHT = 0, 1


def _xy(rng: np.random.Generator, centre, half: float) -> np.ndarray:
    return np.asarray(centre, dtype=np.float64) + rng.uniform(-half, half, 2)


def _pos(obs: dict, index: int) -> np.ndarray:
    return np.asarray(obs["object_poses"][index][:3], dtype=np.float64)


class _CanTask(Task):
    """Cans (free bodies, listed first in ``object_bodies``) and static containers."""

    long_horizon = True
    timestep = 1 / 120
    cans: tuple[str, ...] = ()

    def reach_lift(self, state: TaskState, initial: TaskState) -> list[bool]:
        reach = [checks.reached(state.fingertips, state.body_pos[c]) for c in self.cans]
        lift = [checks.lifted(state.body_pos[c][2], initial.body_pos[c][2]) for c in self.cans]
        return reach + lift


# --------------------------------------------------------------------------- Sort-Cans
@register_task
class SortCans(_CanTask):
    name = "Sort-Cans"
    instruction = "Put sprite cans to the left box, and orange cans to the right box"
    horizon = 900
    cans = ("sprite1", "sprite2", "fanta1", "fanta2")
    subtasks = per_can_subtasks(("reach", "lift", "sort"), cans)
    object_bodies = cans + ("box_left", "box_right")
    BOX = Container(inner_x=0.2, inner_y=0.12, wall_h=0.04, rgba="0.55 0.42 0.3 1")
    BOX_CENTRE = {"box_left": (0.38, 0.33), "box_right": (0.38, -0.33)}
    # Sprite cans start on the left, Fanta cans on the right: per side a front can nearer the middle and a back can
    # further out (the front one is picked first, so the fingers never sweep into the other can).
    CAN_SLOTS = {"sprite1": (0.30, 0.06), "sprite2": (0.46, 0.115), "fanta1": (0.30, -0.06), "fanta2": (0.46, -0.115)}
    CLEARANCE = 0.035  # sideways approach of the palm (the boxes are close)
    SPOT = 0.055  # the two cans go this far behind / in front of the box centre
    DROP_GAP = 0.012  # can bottom above the box walls when released (the hand stays outside the box)

    def scene(self) -> SceneObjects:
        cans = "".join(
            can_xml(c, *((SPRITE_RGBA, SPRITE_BAND) if c.startswith("sprite") else (FANTA_RGBA, FANTA_BAND)))
            for c in self.cans
        )
        return SceneObjects(worldbody=cans + self.BOX.xml("box_left") + self.BOX.xml("box_right"))

    def sample_layout(self, rng):
        layout = {b: _xy(rng, c, 0.01) for b, c in self.BOX_CENTRE.items()}
        for group in (("sprite1", "sprite2"), ("fanta1", "fanta2")):
            shift = rng.uniform(-1, 1, 2) * [0.02, 0.015]  # the pair moves together
            for c in group:
                layout[c] = _xy(rng, self.CAN_SLOTS[c], 0.005) + shift
        return layout

    def apply_layout(self, model, data, layout):
        for b in self.BOX_CENTRE:
            model.body(b).pos[:2] = layout[b]
        for c in self.cans:
            set_free_pose(data, c, [*layout[c], TABLE_TOP_Z + CAN_H / 2])

    def sorted_flags(self, state: TaskState) -> list[bool]:
        return [
            self.BOX.contains(state.body_pos[c], state.body_pos["box_left" if c.startswith("sprite") else "box_right"])
            for c in self.cans
        ]

    def check(self, state, initial):
        sort = self.sorted_flags(state)
        return tuple(self.reach_lift(state, initial) + sort + [all(sort)])

    def expert_plan(self, obs, rng):
        names = self.object_bodies
        drop = TABLE_TOP_Z + self.BOX.wall_h + self.DROP_GAP
        plans = {}
        for side, pair, box in ((LEFT, ("sprite1", "sprite2"), "box_left"), (RIGHT, ("fanta1", "fanta2"), "box_right")):
            first, second = sorted((_pos(obs, names.index(c)) for c in pair), key=lambda p: p[0])  # front can first
            b = _pos(obs, names.index(box))
            back_spot, front_spot = b + [self.SPOT, 0, 0], b - [self.SPOT, 0, 0]
            plans[side] = sequence(
                pick_and_place(side, first, TABLE_TOP_Z, back_spot, drop, rng, clearance=self.CLEARANCE),
                pick_and_place(
                    side, second, TABLE_TOP_Z, front_spot, drop, rng, clearance=self.CLEARANCE, approach_high=True
                ),
                home(side),
            )
        return two_hand_waypoints(plans[LEFT], plans[RIGHT], rng)


# --------------------------------------------------------------------------- the tray tasks
class _TrayTask(_CanTask):
    """A two-slot tray in the middle; the right can belongs in slot 0 (-y), the left can in slot 1."""

    cans = ("can_right", "can_left")
    object_bodies = cans + ("tray",)
    TRAY = Container(inner_x=0.1, inner_y=0.21, wall_h=0.036, slots=2, rgba="0.35 0.38 0.45 1")
    TRAY_CENTRE = (0.45, 0.0)
    OUTSIDE = {"can_right": (0.40, -0.21), "can_left": (0.40, 0.21)}
    SET_DOWN_GAP = 0.004  # the can's bottom above the slot's floor when it is released
    WALL_CLEARANCE = 0.012  # the sideways hand's lowest point above the tray walls while it holds a can in a slot
    GRASP_PULL = 0.015  # closing the fingers draws the can about this far back towards the palm (measured)
    starts_inserted = False

    def scene(self) -> SceneObjects:
        return SceneObjects(
            worldbody=can_xml("can_right")
            + can_xml("can_left", "0.2 0.35 0.8 1", "0.9 0.9 0.9 1")
            + self.TRAY.xml("tray")
        )

    def sample_layout(self, rng):
        layout = {"tray": _xy(rng, self.TRAY_CENTRE, 0.04)}
        for c in self.cans:
            layout[c] = _xy(rng, self.OUTSIDE[c], 0.04)
        return layout

    def apply_layout(self, model, data, layout):
        model.body("tray").pos[:2] = layout["tray"]
        for k, c in enumerate(self.cans):
            if self.starts_inserted:
                xy = layout["tray"] + self.TRAY.slot_offsets()[k]
                set_free_pose(data, c, [*xy, TABLE_TOP_Z + self.TRAY.floor + CAN_H / 2])
            else:
                set_free_pose(data, c, [*layout[c], TABLE_TOP_Z + CAN_H / 2])
        self.reset_history()

    def reset_history(self) -> None:
        """Forget what happened earlier in the episode (Insert-And-Unload-Cans remembers insertions)."""

    def inserted_flags(self, state: TaskState) -> list[bool]:
        return [self.TRAY.contains(state.body_pos[c], state.body_pos["tray"]) for c in self.cans]

    def unloaded_flags(self, state: TaskState) -> list[bool]:
        return [unloaded(state.body_pos[c], state.body_quat[c], self.TRAY, state.body_pos["tray"]) for c in self.cans]

    # ------------------------------------------------------------- expert pieces
    def _grip_height(self) -> float:
        """Wrist above the can bottom: high enough that the sideways hand clears the walls with the can on the floor."""
        return self.TRAY.wall_h + HAND_BELOW_WRIST + self.WALL_CLEARANCE - self.TRAY.floor

    def _insert(self, obs, side: int, rng) -> list:
        # The can is set down on the slot's floor, not dropped in: released in the air, the opening fingers tip it over.
        k = self.cans.index("can_left" if side == LEFT else "can_right")
        can, tray = _pos(obs, k), _pos(obs, len(self.cans))
        slot = tray + [*self.TRAY.slot_offsets()[k], 0.0]
        floor = TABLE_TOP_Z + self.TRAY.floor + self.SET_DOWN_GAP
        return pick_and_place(
            side, can, TABLE_TOP_Z, slot, floor, rng, grasp_height=self._grip_height(), pull=self.GRASP_PULL
        )

    def _unload(self, obs, side: int, rng) -> list:
        """Take the can out of its slot, from where ``obs`` shows it, and stand it on the table beside the tray."""
        k = self.cans.index("can_left" if side == LEFT else "can_right")
        can, tray = _pos(obs, k), _pos(obs, len(self.cans))
        bottom = TABLE_TOP_Z + self.TRAY.floor
        target = np.array([tray[0] - 0.01, tray[1] + (0.2 if side == LEFT else -0.2)])
        return pick_and_place(side, can, bottom, target, TABLE_TOP_Z + 0.004, rng, grasp_height=self._grip_height())


@register_task
class InsertCans(_TrayTask):
    name = "Insert-Cans"
    instruction = "Insert cans into the boxes"
    horizon = 600
    subtasks = per_can_subtasks(("reach", "lift", "insert"), _TrayTask.cans)

    def check(self, state, initial):
        inserted = self.inserted_flags(state)
        return tuple(self.reach_lift(state, initial) + inserted + [all(inserted)])

    def expert_plan(self, obs, rng):
        right = sequence(self._insert(obs, RIGHT, rng), home(RIGHT))
        left = self._insert(obs, LEFT, rng)
        return two_hand_waypoints(sequence(idle_for(right, LEFT), left, home(LEFT)), right + idle_for(left, RIGHT), rng)


@register_task
class UnloadCans(_TrayTask):
    name = "Unload-Cans"
    instruction = "Unload the right cans and then unload the left cans"
    horizon = 600
    starts_inserted = True
    subtasks = per_can_subtasks(("reach", "lift", "unload"), _TrayTask.cans)

    def check(self, state, initial):
        out = self.unloaded_flags(state)
        return tuple(self.reach_lift(state, initial) + out + [all(out)])

    def expert_plan(self, obs, rng):
        right = sequence(self._unload(obs, RIGHT, rng), home(RIGHT))
        left = self._unload(obs, LEFT, rng)
        return two_hand_waypoints(sequence(idle_for(right, LEFT), left, home(LEFT)), right + idle_for(left, RIGHT), rng)


@register_task
class InsertAndUnloadCans(_TrayTask):
    """A can counts as unloaded only once it has been inserted earlier in the episode.

    The task remembers insertions per episode; the episode is identified by its
    ``initial`` state object (the env passes the same one every step), and the
    memory is also cleared at every layout.
    """

    name = "Insert-And-Unload-Cans"
    instruction = "Insert the right can into the slot and insert the left can into the slot, unload the right cans and then unload the left cans"
    horizon = 900
    subtasks = per_can_subtasks(("reach", "lift", "insert", "unload"), _TrayTask.cans)

    def __init__(self) -> None:
        self.reset_history()

    def reset_history(self) -> None:
        self._episode: TaskState | None = None
        self._was_inserted = np.zeros(len(self.cans), dtype=bool)

    def check(self, state, initial):
        if initial is not self._episode:
            self.reset_history()
            self._episode = initial
        inserted = self.inserted_flags(state)
        self._was_inserted |= inserted
        out = [bool(w and u) for w, u in zip(self._was_inserted, self.unloaded_flags(state))]
        return tuple(self.reach_lift(state, initial) + inserted + out + [all(out)])

    # Stage 0 inserts both cans; stages 1 and 2 unload the right, then the left can, each planned from where that
    # can came to rest (not the slot centre: a can set down in a slot may end up about a centimetre off it).
    expert_stages = 3

    def expert_plan(self, obs, rng):
        ins_r, ins_l = self._insert(obs, RIGHT, rng), self._insert(obs, LEFT, rng)
        return two_hand_waypoints(sequence(idle_for(ins_r, LEFT), ins_l), sequence(ins_r, idle_for(ins_l, RIGHT)), rng)

    def expert_stage_plan(self, stage, obs, rng, start):
        side = RIGHT if stage == 1 else LEFT
        out = sequence(self._unload(obs, side, rng), home(side))
        plans = {side: out, 1 - side: idle_for(out, 1 - side)}
        return two_hand_waypoints(plans[LEFT], plans[RIGHT], rng, start)


# --------------------------------------------------------------------------- Stack-Can-Into-Drawer
@register_task
class StackCanIntoDrawer(DrawerTask):
    """An open drawer on the left, a can and a saucer on the right: put the can on the saucer, then close the drawer."""

    name = "Stack-Can-Into-Drawer"
    instruction = "Put can on the saucer, and Close the drawer"
    long_horizon = True
    horizon = 600
    subtasks = ("reach_drawer", "reach_can", "lift", "success")
    object_bodies = ("cabinet", "drawer", "can", "plate")
    CENTRE = (0.56, 0.22)
    CAN_CENTRE, PLATE_CENTRE = (0.40, -0.17), (0.43, -0.03)
    PLATE_R, PLATE_H = StackCan.PLATE_R, StackCan.PLATE_H
    MIN_CAN_PLATE = 0.13

    def scene(self) -> SceneObjects:
        base = super().scene()
        plate = f"""    <body name="plate" pos="0.43 -0.03 {TABLE_TOP_Z + self.PLATE_H / 2}">
      <freejoint name="plate"/>
      <geom type="cylinder" size="{self.PLATE_R} {self.PLATE_H / 2}" mass="0.3" rgba="0.92 0.92 0.95 1" friction="1 0.01 0.001"/>
    </body>
"""
        return SceneObjects(
            worldbody=base.worldbody + can_xml("can", "0.2 0.7 0.3 1", "0.9 0.9 0.9 1") + plate, contact=base.contact
        )

    def sample_layout(self, rng):
        while True:
            can, plate = _xy(rng, self.CAN_CENTRE, 0.04), _xy(rng, self.PLATE_CENTRE, 0.04)
            if np.linalg.norm(can - plate) >= self.MIN_CAN_PLATE:
                break
        return {"cabinet": _xy(rng, self.CENTRE, 0.03), "can": can, "plate": plate}

    def apply_layout(self, model, data, layout):
        model.body("cabinet").pos[:2] = layout["cabinet"]
        data.joint("drawer_slide").qpos[0] = self.RANGE
        set_free_pose(data, "can", [*layout["can"], TABLE_TOP_Z + CAN_H / 2])
        set_free_pose(data, "plate", [*layout["plate"], TABLE_TOP_Z + self.PLATE_H / 2])

    def on_plate(self, state: TaskState, gap: float = 0.02) -> bool:
        can, plate = state.body_pos["can"], state.body_pos["plate"]
        return checks.stacked(can[2] - CAN_H / 2, plate[2] + self.PLATE_H / 2, can, plate, self.PLATE_R, gap)

    def check(self, state, initial):
        can = state.body_pos["can"]
        closed = self.fraction(state) <= 0.05
        return (
            hand_reached(state.fingertips, LEFT, state.site_pos["drawer_handle"]),
            hand_reached(state.fingertips, RIGHT, can),
            checks.lifted(can[2], initial.body_pos["can"][2]),
            self.on_plate(state) and closed,
        )

    def expert_plan(self, obs, rng):
        can, plate = _pos(obs, 2), _pos(obs, 3)
        stack = sequence(
            pick_and_place(RIGHT, can, TABLE_TOP_Z, plate, TABLE_TOP_Z + self.PLATE_H + 0.006, rng), home(RIGHT)
        )
        drawer = _pos(obs, 1)
        handle = drawer + [-self.DEPTH / 2 - self.HANDLE_GAP, 0.0, self.HEIGHT / 2]
        opened = float(obs["object_joint_pos"][0])
        front_x = handle[0] + self.HANDLE_GAP
        tip_z = handle[2] + 0.04  # fingertips push the drawer front above the handle
        push_from = np.array([front_x - 0.04 - HAND_LENGTH, handle[1] - 0.0095, tip_z]) + rng.normal(0.0, 0.003, 3)
        push_to = np.array([front_x + opened + 0.012 - HAND_LENGTH, handle[1] - 0.0095, tip_z])
        close = [
            (0.9, push_from + [0, 0, 0.06], PALM_DOWN, OPEN),
            (0.5, push_from, PALM_DOWN, OPEN),
            (1.6, push_to, PALM_DOWN, OPEN),
            (0.5, push_to + [-0.06, 0, 0.06], PALM_DOWN, OPEN),
        ]
        return two_hand_waypoints(sequence(idle_for(stack, LEFT), close), sequence(stack, idle_for(close, RIGHT)), rng)
