"""Robot action spaces, declared by a robot description, and the padded human + robot space (VITRA's scheme).

A robot's action space holds, per arm (left, then right), the wrist (hand
frame) pose in the current camera frame, exactly as the hand spaces hold it
(position 3 + rot6d 6), then that robot's hand joints (radians, the hand
file's ``actuated`` order). The arm's end-effector target follows from the
wrist pose through the arm's calibrated ``ee_from_wrist`` offset
(:mod:`dexego.retarget.arm`), so the space needs no arm joints and stays
the same when the camera or the base moves. Absolute or relative to the
current pose is the policy's ``action_frame`` (:mod:`dexego.actions.relative`),
the one switch every action space shares.

Two spaces per robot ``NAME`` (both registered by :func:`register_robot_spaces`):

- ``robot:NAME`` -- wrist pose + hand joints (``9 + J`` per arm);
- ``HAND+robot:NAME`` (e.g. ``ego48+robot:NAME``) -- one padded vector holding
  a hand space's parts AND the robot's joints per arm. Human samples carry the
  hand-space dimensions only, robot samples carry every dimension the robot
  has; a per-dimension mask (:meth:`ActionSpace.carried`) says which, and
  losses ignore the rest. One model learns from both.

Sides with fewer joints than the other are padded (names ``""``, never
carried). The joint names, limits and sides come from the robot YAML
(:func:`dexego.retarget.robots.robot_action_config` fills
:class:`RobotActionConfig`); they are stored in the policy's config, so a
saved policy needs no robot file to load.
"""

from __future__ import annotations

from dataclasses import dataclass

from dexego.actions.spaces import HAND_SPACES, ROBOT_PREFIX, SPACES, ActionSpace
from dexego.errors import ConfigError

JOINTS = "joints"
WRIST_PARTS = (("wrist_pos", 3), ("wrist_rot6d", 6))


@dataclass(frozen=True)
class RobotActionConfig:
    """A robot's action space (typed config ``model.robot``): its name and hand joints per side with limits.

    ``description`` names the robot YAML (a built-in name or a path) the rest is read from when the joints are
    not given (``dexego train`` fills them in and stores them with the policy).
    """

    name: str = ""
    description: str = ""
    left_joints: tuple[str, ...] = ()
    right_joints: tuple[str, ...] = ()
    left_lower: tuple[float, ...] = ()
    left_upper: tuple[float, ...] = ()
    right_lower: tuple[float, ...] = ()
    right_upper: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for side in ("left", "right"):
            joints = getattr(self, f"{side}_joints")
            for bound in ("lower", "upper"):
                values = getattr(self, f"{side}_{bound}")
                if values and len(values) != len(joints):
                    raise ConfigError(
                        f"model.robot.{side}_{bound}: {len(values)} values for {len(joints)} {side} joints"
                    )
            if len(set(joints)) != len(joints):
                raise ConfigError(f"model.robot.{side}_joints: repeated joint names in {list(joints)}")

    @property
    def resolved(self) -> bool:
        return bool(self.name) and bool(self.left_joints or self.right_joints)

    @property
    def joints_per_side(self) -> int:
        return max(len(self.left_joints), len(self.right_joints))

    def side_joints(self, side: int) -> tuple[str, ...]:
        return self.left_joints if side == 0 else self.right_joints

    def limits(self, side: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (self.left_lower, self.left_upper) if side == 0 else (self.right_lower, self.right_upper)


def robot_space_name(robot: str, hand_space: str = "") -> str:
    return f"{hand_space}+{ROBOT_PREFIX}{robot}" if hand_space else f"{ROBOT_PREFIX}{robot}"


def build_robot_space(config: RobotActionConfig, hand_space: str = "") -> ActionSpace:
    """The space ``robot:NAME`` (``hand_space`` empty) or the padded ``HAND+robot:NAME``."""
    if not config.resolved:
        raise ConfigError("a robot action space needs model.robot with a name and its joints (or its description)")
    n = config.joints_per_side
    names, lower, upper, carried = [], [], [], []
    for side in (0, 1):
        joints = config.side_joints(side)
        lo, hi = config.limits(side)
        names += list(joints) + [""] * (n - len(joints))
        lower += list(lo or [float("-inf")] * len(joints)) + [float("-inf")] * (n - len(joints))
        upper += list(hi or [float("inf")] * len(joints)) + [float("inf")] * (n - len(joints))
        carried += [True] * len(joints) + [False] * (n - len(joints))
    if hand_space:
        base = SPACES[hand_space]
        parts = base.parts + ((JOINTS, n),)
        human_parts = base.part_names
        description = f"{base.name} + the hand joints of {config.name} ({n} per arm); human samples carry the {base.name} part only"
        required = base.required_keypoints
    else:
        parts = WRIST_PARTS + ((JOINTS, n),)
        human_parts = ()
        description = f"wrist pose in the current camera frame + the hand joints of {config.name} ({n} per arm)"
        required = (0, 5, 9, 17)
    return ActionSpace(
        name=robot_space_name(config.name, hand_space),
        parts=parts,
        description=description,
        required_keypoints=required,
        robot=config.name,
        hand_space=hand_space,
        joint_names=tuple(names),
        joint_lower=tuple(lower),
        joint_upper=tuple(upper),
        joint_carried=tuple(carried),
        human_parts=human_parts,
    )


_REGISTERED: dict[str, RobotActionConfig] = {}


def register_robot_spaces(config: RobotActionConfig) -> None:
    """Make ``robot:NAME`` and ``HAND+robot:NAME`` known to :func:`dexego.actions.get_space` in this process.

    Registering the same robot again with other joints is an error (one name, one space)."""
    if not config.resolved:
        raise ConfigError("model.robot: a robot action space needs the robot's name and joints (or its description)")
    known = _REGISTERED.get(config.name)
    key = (
        config.left_joints,
        config.right_joints,
        config.left_lower,
        config.left_upper,
        config.right_lower,
        config.right_upper,
    )
    if known is not None:
        if (
            known.left_joints,
            known.right_joints,
            known.left_lower,
            known.left_upper,
            known.right_lower,
            known.right_upper,
        ) != key:
            raise ConfigError(f"robot {config.name!r} is already registered with other joints or limits")
        return
    _REGISTERED[config.name] = config
    for hand in ("",) + HAND_SPACES:
        space = build_robot_space(config, hand)
        SPACES[space.name] = space


def registered_robot(name: str) -> RobotActionConfig | None:
    return _REGISTERED.get(name)
