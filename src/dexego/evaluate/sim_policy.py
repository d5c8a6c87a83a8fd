"""A trained dexego Policy (chunks in the current camera frame) driving the simulated robot.

``dexego sim eval --policy CHECKPOINT_DIR|ws://HOST:PORT`` builds a
:class:`CheckpointPolicyFactory`; per task it makes a :class:`ModelSimPolicy`:

    env observation -> ObservationHistory (the training-sample layout) -> policy chunk (H, D)
    -> ChunkedPolicy (re-query every ``query_every`` steps, EgoVLA temporal ensembling:
       exp weights 0.2 arm / 0.8 hand) -> dexego.retarget.commands.PolicyToRobot -> 30-D env action

Policies in ``ego48``, ``mano`` (MANO files required: ``mano_dir``) and the robot's action spaces
(``robot:h1_inspire``, ``ego48+robot:h1_inspire``) run; the converter is the one deployment uses.

In-process checkpoints and policy servers go through the very same code
(:func:`dexego.serve.policy_from_spec`); only the transport differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dexego.actions import get_space
from dexego.actions.robot import register_robot_spaces, registered_robot
from dexego.actions.spaces import split_space_name
from dexego.errors import ConfigError, InputError
from dexego.evaluate.sim_observation import HistoryConfig, ObservationHistory, SimRobotGeometry

ACTION_SPACE = "ego48"  # the default space of a source that does not say


@dataclass(frozen=True)
class SimPolicyConfig:
    query_every: int = 4  # control steps between policy queries (EgoVLA: 1; 4 keeps CPU rollouts fast)
    ensemble: bool = True
    arm_decay: float = 0.2
    hand_decay: float = 0.8
    history_spacing_s: float = 0.2  # as the training samples (dexego.data.SampleConfig)
    image_size: int | None = None  # None: the policy's own image size when it reports one, else as rendered
    fingertip_scale: float = 1.0  # 1: robot-scale ego48 (sim demos); robot/human palm ratio for human-scale output
    retarget_iterations: int = 2
    mano_dir: str = ""  # folder with MANO_LEFT.pkl / MANO_RIGHT.pkl: needed by 'mano' policies
    control_hz: float = 30.0
    # Draw each queried chunk (predicted wrist and fingertip paths) on the observed frames until the next query,
    # so recorded rollout videos show it; actions are unchanged. Turn it on where rollout videos are recorded.
    overlay: bool = False

    def __post_init__(self) -> None:
        if self.query_every < 1:
            raise ConfigError(f"query_every must be at least 1, got {self.query_every}")
        if self.fingertip_scale <= 0:
            raise ConfigError(f"fingertip_scale must be positive, got {self.fingertip_scale}")

    def chunking(self, action_space: str = ACTION_SPACE):
        from dexego.serve import ChunkingConfig

        return ChunkingConfig(query_every=self.query_every, ensemble=self.ensemble, action_space=action_space,
                              arm_decay=self.arm_decay, hand_decay=self.hand_decay)  # fmt: skip


class ModelSimPolicy:
    """A simulator policy (``reset(seed)``, ``act(observation)``) over a chunk source (Policy or PolicyClient)."""

    uses_images = True

    def __init__(self, chunked, geometry: SimRobotGeometry, config: SimPolicyConfig = SimPolicyConfig(),
                 obs_frames: int = 6, image_size: int | None = None, action_space: str = ACTION_SPACE):  # fmt: skip
        """``chunked``: a :class:`dexego.serve.ChunkedPolicy`; its observation and retarget hooks are set here."""
        from dexego.retarget.commands import CommandConfig, PolicyToRobot, load_mano_pair

        self.config = config
        self.geometry = geometry
        self.action_space = action_space
        mano = (
            load_mano_pair(config.mano_dir) if (get_space(action_space).hand_space or action_space) == "mano" else None
        )
        history = HistoryConfig(frames=obs_frames, spacing_s=config.history_spacing_s, control_hz=config.control_hz,
                                image_size=config.image_size or image_size, action_space=action_space)  # fmt: skip
        self.history = ObservationHistory(geometry, history, mano=mano)
        commands = CommandConfig(config.fingertip_scale, config.retarget_iterations)
        self.converter = PolicyToRobot(
            geometry.embodiment, action_space, geometry.world_from_camera, sim_current, commands, mano
        )
        order = tuple(n for hand in self.converter.hands for n in hand.joint_names)
        if geometry.hand_joint_names and order != geometry.hand_joint_names:
            raise InputError(
                geometry.embodiment,
                "hands",
                f"hand joints {order} are not in the simulator's order {geometry.hand_joint_names}",
            )
        chunked.config = replace(chunked.config, action_space=action_space)
        chunked.observation_fn = self.history
        chunked.retarget = self.converter
        self.tap = self.overlay = None
        if config.overlay:
            from dexego.evaluate.sim_overlay import ChunkTap, RolloutOverlay

            self.tap = chunked.source = ChunkTap(chunked.source)
            self.overlay = RolloutOverlay(geometry.intrinsics, action_space)
        self.chunked = chunked

    def reset(self, seed: int | None = None) -> None:
        self.chunked.reset(seed)  # resets the history and the converter too
        if self.overlay is not None:
            self.tap.latest = None
            self.overlay.reset()

    def act(self, observation: dict) -> np.ndarray:
        self.history.push(observation)  # every step: the history frames are 0.2 s apart, queries every k steps
        return self.chunked.act(observation)

    def video_frame(self, image: np.ndarray) -> np.ndarray:
        """The frame just acted on as a rollout video shows it: with the latest predicted chunk drawn, if enabled."""
        if self.overlay is None:
            return image
        shown = np.array(image, copy=True)
        self.overlay.draw(shown, self.tap.latest, self.tap.queries)
        return shown

    def close(self) -> None:
        from dexego.serve import close_policy

        if self.tap is not None:
            self.chunked.source = self.tap.source
        close_policy(self.chunked)


def source_info(source: Any) -> dict:
    """Action space, observation frames and image size of an in-process Policy or a PolicyClient."""
    from dexego.serve import PolicyClient
    from dexego.serve.loading import policy_info

    if isinstance(source, PolicyClient):
        info = dict(source.metadata)
    else:
        info = policy_info(source)
        backbone = getattr(source, "backbone", None)
        size = getattr(backbone, "image_size", None) or getattr(getattr(backbone, "config", None), "image_size", None)
        if isinstance(size, int) and size > 0:
            info["image_size"] = size
    return info


def model_sim_policy(
    source: Any, task: str, config: SimPolicyConfig = SimPolicyConfig(), info: dict | None = None
) -> ModelSimPolicy:
    """Wrap any ``predict_action_chunk`` source (a Policy, a PolicyClient, a scripted oracle) for ``task``."""
    from dexego.serve import ChunkedPolicy

    info = source_info(source) if info is None else info
    return _build(ChunkedPolicy(source, config.chunking()), task, config, info)


def sim_current(observation: dict) -> tuple[np.ndarray, np.ndarray]:
    """The converter's ``current`` hook for the simulator: end-effector poses (2, 9) and hand joints (2, 6)."""
    return np.asarray(observation["ee_pose"], dtype=np.float64), np.asarray(
        observation["hand_joint_pos"], dtype=np.float64
    )


def _build(chunked, task: str, config: SimPolicyConfig, info: dict) -> ModelSimPolicy:
    space = info.get("action_space", ACTION_SPACE)
    geometry = SimRobotGeometry.for_task(task)
    robot = split_space_name(space)
    if robot is not None and robot[1] != geometry.embodiment:
        raise ConfigError(
            f"the policy predicts {space!r}, the joints of robot {robot[1]!r}; the simulator's robot is {geometry.embodiment!r}"
        )
    if robot is not None and registered_robot(robot[1]) is None:  # a policy server's space: the simulator's own robot
        from dexego.retarget.robots import robot_action_config

        register_robot_spaces(robot_action_config(robot[1]))
    if (get_space(space).hand_space or space) == "kp21":
        raise ConfigError(
            "the simulator adapter runs ego48, mano and robot-space policies; kp21 has no robot converter"
        )
    frames = info.get("obs_frames", 6)
    size = info.get("image_size")
    return ModelSimPolicy(chunked, geometry, config, int(frames), int(size) if size else None, space)


class CheckpointPolicyFactory:
    """Picklable ``factory(task) -> simulator policy`` for a checkpoint directory or a ``ws://`` policy server."""

    def __init__(self, spec: str, config: SimPolicyConfig = SimPolicyConfig()):
        from dexego.serve import is_server_spec

        if not is_server_spec(spec) and not Path(spec).is_dir():
            raise InputError(spec, None, "policy checkpoint directory not found (or give ws://HOST:PORT)")
        self.spec = spec
        self.config = config

    def __call__(self, task: str) -> ModelSimPolicy:
        from dexego.serve import policy_from_spec

        chunked = policy_from_spec(self.spec, chunking=self.config.chunking())
        return _build(chunked, task, self.config, source_info(chunked.source))

    def describe(self) -> dict:
        """What the results should record about how the policy was run."""
        return {"adapter": "dexego.evaluate.sim_policy", "converter": "dexego.retarget.commands.PolicyToRobot",
                "spec": self.spec, **asdict(self.config)}  # fmt: skip


class HoldPoseFactory:
    """Picklable ``factory(task) -> simulator policy`` of the hold-the-current-pose baseline in closed loop.

    Every chunk repeats the current hands (:class:`dexego.evaluate.HoldCurrentPose`, ego48); it runs through the
    same history, chunking and robot converter as a trained policy, so its rollouts are what a policy that has
    learnt nothing but "stay where you are" achieves on the same tasks, looks and seeds.
    """

    def __init__(self, config: SimPolicyConfig = SimPolicyConfig(), horizon: int = 30):
        if horizon < 1:
            raise ConfigError(f"horizon must be at least 1, got {horizon}")
        self.config = config
        self.horizon = horizon

    def __call__(self, task: str) -> ModelSimPolicy:
        from dexego.evaluate.policy_motion import HoldCurrentPose
        from dexego.serve import ChunkedPolicy

        chunked = ChunkedPolicy(HoldCurrentPose(self.horizon), self.config.chunking())
        return _build(chunked, task, self.config, {"action_space": ACTION_SPACE, "obs_frames": 1})

    def describe(self) -> dict:
        return {"adapter": "dexego.evaluate.sim_policy", "converter": "dexego.retarget.commands.PolicyToRobot",
                "spec": "hold", "horizon": self.horizon, **asdict(self.config)}  # fmt: skip
