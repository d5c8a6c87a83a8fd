"""Gymnasium environments: an embodiment at the table doing one benchmark task.

:class:`TaskEnv` holds what every embodiment shares (scene, layout,
detectors, step loop, rendering); :class:`HumanoidTaskEnv` is the robot,
:class:`dexego.sim.human_env.HumanHandsEnv` the human hands.

Action (``action_mode="ee"``, 30-D): per arm, left then right, the wrist
target position (3, world frame) + orientation (rot6d, 6) + the 6 actuated
hand joints; the env solves damped-least-squares IK for the arm joint
targets. ``action_mode="joint"`` (26-D): per arm the 7 arm joint targets +
6 hand joints. 30 Hz control; the physics step is the task's (1/240 or
1/120 s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import gymnasium as gym
import mujoco
import numpy as np

from dexego.errors import ConfigError, InputError
from dexego.geometry import Intrinsics, matrix_to_rot6d, rot6d_to_matrix
from dexego.sim.checks import Progress, TaskState
from dexego.sim.hand_mjcf import FINGERTIP_ORDER, HAND_ACTUATED, HAND_RANGES
from dexego.sim.ik import ArmIK
from dexego.sim.robot_keypoints import HandKeypointReader
from dexego.sim.robot_mjcf import ARM_JOINTS, ROBOT_NAME
from dexego.sim.scene import EmbodimentXML, apply_visual_config, check_visual_config, robot_embodiment_xml, scene_xml
from dexego.sim.tasks import get_task
from dexego.sim.tasks.base import Task, rotation_from_axes

log = logging.getLogger(__name__)

SIDES = ("left", "right")
EE_ACTION_DIM = 30
JOINT_ACTION_DIM = 26
ACTION_MODES = ("ee", "joint", "pose")  # the robot takes ee/joint, the human hands ee/pose
PALM_DOWN = rotation_from_axes([1, 0, 0], [0, 0, -1])  # fingers forward, palm facing the table
HOME_POS = np.array([[0.18, 0.22, 1.17], [0.18, -0.22, 1.17]])
HAND_OPEN = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_REST_GUESS = np.array([-0.5, 0.0, 0.0, -1.3, 0.0, 0.0, 0.0])
MAX_QVEL = 500.0


@dataclass(frozen=True)
class EnvConfig:
    image_size: int = 224  # square ego image, 224-384 px in the benchmark
    render: bool = True  # False: no "image" observation (fast, for state-based experts)
    action_mode: str = "ee"
    control_hz: float = 30.0
    timestep: float = 0.0  # 0: the task's own physics step
    horizon: int = 0  # 0: the task's own horizon (control steps)
    end_on_success: bool = True
    success_hold_steps: int = 3  # success must hold this many consecutive steps to end the episode

    def __post_init__(self) -> None:
        if self.action_mode not in ACTION_MODES:
            raise ConfigError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if not 32 <= self.image_size <= 640:
            raise ConfigError(f"image_size must be in 32..640, got {self.image_size}")


def state_names() -> list[str]:
    """Names of the robot state vector (arm joints then actuated hand joints, left then right)."""
    return [f"{s}_{j}" for s in SIDES for j in ARM_JOINTS] + [f"{s}_{j}" for s in SIDES for j in HAND_ACTUATED]


def action_names(mode: str = "ee") -> list[str]:
    if mode == "joint":
        return [f"{s}_{j}" for s in SIDES for j in ARM_JOINTS + HAND_ACTUATED]
    ee = ["x", "y", "z", "r00", "r10", "r20", "r01", "r11", "r21"]
    return [f"{s}_{n}" for s in SIDES for n in ee + [f"{j}" for j in HAND_ACTUATED]]


class TaskEnv(gym.Env):
    """What every embodiment shares: the scene, the task's layout and detectors, rendering, the step loop.

    Subclasses provide the embodiment: its MJCF (``_embodiment_xml``), indices
    (``_init_embodiment``), reset pose, action decoding and observations.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
    embodiment: str = ""

    def __init__(
        self,
        task: str | Task = "Push-Box",
        config: EnvConfig | None = None,
        render_mode: str | None = None,
        **overrides,
    ):
        config = replace(config or EnvConfig(), **overrides)
        self.task: Task = get_task(task) if isinstance(task, str) else task
        self.config = config
        self.render_mode = render_mode
        self.timestep = config.timestep or self.task.timestep
        self.substeps = int(round(1.0 / (config.control_hz * self.timestep)))
        self.horizon = config.horizon or self.task.horizon
        self.model = mujoco.MjModel.from_xml_string(
            scene_xml(self.task.scene(), self.timestep, self.task.name, self._embodiment_xml())
        )
        self.data = mujoco.MjData(self.model)
        self._init_task_indices()
        self._init_embodiment()
        self._renderer: mujoco.Renderer | None = None
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (self.action_dim,), np.float64)
        self.observation_space = self._make_observation_space()
        self.visual = (1, 1)
        self.layout: dict[str, np.ndarray] = {}
        self._steps = 0
        self._success_run = 0
        self._failed: str | None = None
        self.progress = Progress(self.task.subtasks)

    # ----------------------------------------------------------------- embodiment hooks
    def _embodiment_xml(self) -> EmbodimentXML:
        raise NotImplementedError

    def _init_embodiment(self) -> None:
        raise NotImplementedError

    def _reset_embodiment(self) -> None:
        """Put the embodiment in its start pose (before the objects are placed)."""
        raise NotImplementedError

    def _after_layout(self) -> None:
        """Called once the objects are placed, before they settle (e.g. to draw per-episode appearance)."""

    def _apply_action(self, action: np.ndarray) -> None:
        raise NotImplementedError

    def _embodiment_spaces(self) -> dict:
        return {}

    def _embodiment_observation(self) -> dict:
        return {}

    @property
    def action_dim(self) -> int:
        raise NotImplementedError

    def _tip_geom_name(self, side: str, finger: str) -> str:
        raise NotImplementedError

    # ----------------------------------------------------------------- setup
    def _init_task_indices(self) -> None:
        m = self.model
        self.wrist_sites = np.array([m.site(f"{s}_wrist").id for s in SIDES])
        self.tip_sites = np.array([[m.site(f"{s}_{f}_tip").id for f in FINGERTIP_ORDER] for s in SIDES])
        self.object_body_ids = np.array([m.body(b).id for b in self.task.object_bodies], dtype=np.int64)
        self.object_joint_adr = np.array([m.joint(j).qposadr[0] for j in self.task.object_joints], dtype=np.int64)
        self.camera_id = m.camera("ego").id
        self.tip_geoms = [
            {m.geom(self._tip_geom_name(s, f)).id: k for k, f in enumerate(FINGERTIP_ORDER)} for s in SIDES
        ]
        hand_root = [m.body(f"{s}_hand").id for s in SIDES]
        self.geom_hand = np.full(m.ngeom, -1)
        for g in range(m.ngeom):
            b = m.geom_bodyid[g]
            while b != 0:
                if b in hand_root:
                    self.geom_hand[g] = hand_root.index(b)
                    break
                b = m.body_parentid[b]

    def _make_observation_space(self) -> gym.spaces.Dict:
        box = lambda shape: gym.spaces.Box(-np.inf, np.inf, shape, np.float64)  # noqa: E731
        n = len(self.task.subtasks)
        spaces = {
            **self._embodiment_spaces(),
            "fingertips": box((2, 5, 3)),
            "contact_forces": box((2, 6)),
            "object_poses": box((len(self.task.object_bodies), 7)),
            "object_joint_pos": box((len(self.task.object_joints),)),
            "subtasks": gym.spaces.MultiBinary(n),
            "instruction": gym.spaces.Text(max_length=512, charset="".join(chr(c) for c in range(32, 127))),
        }
        if self.config.render:
            s = self.config.image_size
            spaces["image"] = gym.spaces.Box(0, 255, (s, s, 3), np.uint8)
        return gym.spaces.Dict(spaces)

    # ----------------------------------------------------------------- episode
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        room, table = options.pop("visual", (options.pop("room", 1), options.pop("table", 1)))
        if options:
            raise ConfigError(f"unknown reset options {sorted(options)}; valid: visual, room, table")
        check_visual_config(int(room), int(table))
        self.visual = (int(room), int(table))
        apply_visual_config(self.model, *self.visual)
        mujoco.mj_resetData(self.model, self.data)
        self._steps = 0
        self._reset_embodiment()
        self.layout = self.task.sample_layout(self.np_random)
        self.task.apply_layout(self.model, self.data, self.layout)
        self._after_layout()
        mujoco.mj_forward(self.model, self.data)
        # Let objects settle under gravity with the embodiment holding its start pose.
        for _ in range(int(0.2 / self.timestep)):
            mujoco.mj_step(self.model, self.data)
        self._steps = 0
        self._success_run = 0
        self._failed = None
        self.progress = Progress(self.task.subtasks)
        self.initial_state = self.task_state()
        # Subtasks count from the first control step on (nothing is credited for the initial layout).
        return self._observation(), self._info(tuple(False for _ in self.task.subtasks))

    def step(self, action):
        if not hasattr(self, "initial_state"):
            raise RuntimeError("call reset() before step()")
        if self._failed is not None:
            raise RuntimeError(f"episode ended ({self._failed}); call reset()")
        self._apply_action(self._validate_action(action))
        for _ in range(self.substeps):
            mujoco.mj_step(self.model, self.data)
        self._steps += 1
        reason = self._divergence()
        if reason is not None:
            self._failed = reason
            log.warning(
                "%s: simulation diverged at step %d (%s); episode ends as a failure",
                self.task.name,
                self._steps,
                reason,
            )
            info = self._info(tuple(False for _ in self.task.subtasks))
            info["failure_reason"] = reason
            return self._observation(safe=True), 0.0, True, False, info
        flags = self.task.check(self.task_state(), self.initial_state)
        self.progress.update(flags)
        self._success_run = self._success_run + 1 if flags[-1] else 0
        terminated = self.config.end_on_success and self._success_run >= self.config.success_hold_steps
        truncated = self._steps >= self.horizon and not terminated
        reward = float(flags[-1])
        return self._observation(), reward, bool(terminated), bool(truncated), self._info(flags)

    # ----------------------------------------------------------------- actions
    def _validate_action(self, action) -> np.ndarray:
        try:
            action = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(None, "action", f"not a numeric array: {exc}") from exc
        if action.shape != (self.action_dim,):
            raise InputError(
                None,
                "action",
                f"expected shape ({self.action_dim},) for action_mode={self.config.action_mode!r}, got {action.shape}",
            )
        if not np.isfinite(action).all():
            bad = np.flatnonzero(~np.isfinite(action)).tolist()
            raise InputError(None, "action", f"contains NaN or inf at indices {bad}")
        if self.config.action_mode in ("ee", "pose"):  # per hand: position (3), rot6d (6), hand values
            per_hand = len(action) // 2
            rot6d = action.reshape(2, per_hand)[:, 3:9]
            first, second = rot6d[:, :3], rot6d[:, 3:]
            norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
            sine = np.linalg.norm(np.cross(first, second), axis=1) / np.maximum(norms, 1e-300)
            for h in np.flatnonzero((norms < 1e-12) | (sine < 1e-6)):
                start = h * per_hand + 3
                raise InputError(None, "action", f"{SIDES[h]} wrist rot6d (indices {start}..{start + 5}) has a zero or "
                                 "two parallel columns, so it names no rotation")  # fmt: skip
        return action

    def ee_action(self, pos: np.ndarray, rot: np.ndarray, hand: np.ndarray) -> np.ndarray:
        """Build a 30-D action from wrist positions (2, 3), rotations (2, 3, 3) and hand joints (2, 6)."""
        return np.concatenate(
            [np.asarray(pos).reshape(2, 3), matrix_to_rot6d(np.asarray(rot)), np.asarray(hand).reshape(2, 6)], axis=1
        ).ravel()

    def _divergence(self) -> str | None:
        if not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all()):
            return "non-finite state"
        if np.abs(self.data.qvel).max() > MAX_QVEL:
            return f"joint velocity above {MAX_QVEL}"
        # MuJoCo resets the state by itself after NaN/inf; its warning counters tell us it happened.
        for warning, what in ((mujoco.mjtWarning.mjWARN_BADQPOS, "NaN/inf joint position"),
                              (mujoco.mjtWarning.mjWARN_BADQVEL, "NaN/inf joint velocity"),
                              (mujoco.mjtWarning.mjWARN_BADQACC, "NaN/inf acceleration")):  # fmt: skip
            if self.data.warning[warning].number > 0:
                return f"{what} (MuJoCo auto-reset)"
        return None

    # ----------------------------------------------------------------- state
    def task_state(self) -> TaskState:
        d = self.data
        return TaskState(
            fingertips=d.site_xpos[self.tip_sites].copy(),
            body_pos={b: d.body(b).xpos.copy() for b in self.task.object_bodies},
            body_quat={b: d.body(b).xquat.copy() for b in self.task.object_bodies},
            joint_pos={j: float(d.joint(j).qpos[0]) for j in self.task.object_joints},
            site_pos={s: d.site(s).xpos.copy() for s in self.task.sites},
        )

    def ee_poses(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.site_xpos[self.wrist_sites].copy(), self.data.site_xmat[self.wrist_sites].reshape(
            2, 3, 3
        ).copy()

    def contact_forces(self) -> np.ndarray:
        """(2, 6) contact normal force magnitudes per hand: five fingertip segments, then all the rest of the hand."""
        out = np.zeros((2, 6))
        force = np.zeros(6)
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            for g in (c.geom1, c.geom2):
                h = self.geom_hand[g]
                if h < 0:
                    continue
                mujoco.mj_contactForce(self.model, self.data, i, force)
                out[h, self.tip_geoms[h].get(g, 5)] += abs(force[0])
        return out

    def hand_keypoints(self) -> np.ndarray:
        """(2, 21, 3) world keypoints of the hands (NaN where the embodiment has none)."""
        raise NotImplementedError

    def camera_pose(self) -> np.ndarray:
        """world_from_camera (4, 4) of the ego camera, OpenCV axes (x right, y down, z forward)."""
        pose = np.eye(4)
        pose[:3, :3] = self.data.cam_xmat[self.camera_id].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = self.data.cam_xpos[self.camera_id]
        return pose

    def intrinsics(self) -> Intrinsics:
        s = self.config.image_size
        fovy = np.deg2rad(self.model.cam_fovy[self.camera_id])
        return Intrinsics.from_fov(fovy, s, s)

    def render(self) -> np.ndarray:
        if self._renderer is None:
            s = self.config.image_size
            self._renderer = mujoco.Renderer(self.model, s, s)
            self._scene_option = mujoco.MjvOption()
            for flag in (
                mujoco.mjtRndFlag.mjRND_SHADOW,
                mujoco.mjtRndFlag.mjRND_REFLECTION,
                mujoco.mjtRndFlag.mjRND_SKYBOX,
            ):
                self._renderer.scene.flags[flag] = 0
        self._renderer.update_scene(self.data, camera=self.camera_id, scene_option=self._scene_option)
        return self._renderer.render().copy()

    def _observation(self, safe: bool = False) -> dict:
        d = self.data
        poses = np.zeros((len(self.object_body_ids), 7))
        if len(self.object_body_ids):
            poses[:, :3] = d.xpos[self.object_body_ids]
            poses[:, 3:] = d.xquat[self.object_body_ids]
        obs = {
            **self._embodiment_observation(),
            "fingertips": d.site_xpos[self.tip_sites].copy(),
            "contact_forces": self.contact_forces() if not safe else np.zeros((2, 6)),
            "object_poses": poses,
            "object_joint_pos": d.qpos[self.object_joint_adr].copy(),
            "subtasks": self.progress.done.astype(np.int8),
            "instruction": self.task.instruction,
        }
        if safe:
            obs = {
                k: (np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) if isinstance(v, np.ndarray) else v)
                for k, v in obs.items()
            }
        if self.config.render:
            obs["image"] = self.render() if not safe else np.zeros((self.config.image_size,) * 2 + (3,), np.uint8)
        return obs

    def _info(self, flags) -> dict:
        return {
            "success": self.progress.success,
            "subtasks": self.progress.as_dict(),
            "subtasks_now": {n: bool(f) for n, f in zip(self.task.subtasks, flags)},
            "progress": self.progress.fraction,
            "step": self._steps,
            "visual": self.visual,
            "failure_reason": self._failed,
            "embodiment": self.embodiment,
        }

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class HumanoidTaskEnv(TaskEnv):
    """The humanoid robot (two 7-DoF arms with Inspire-like hands) doing one benchmark task."""

    embodiment = ROBOT_NAME

    def _embodiment_xml(self) -> EmbodimentXML:
        return robot_embodiment_xml()

    @property
    def action_dim(self) -> int:
        return EE_ACTION_DIM if self.config.action_mode == "ee" else JOINT_ACTION_DIM

    def _tip_geom_name(self, side: str, finger: str) -> str:
        return f"{side}_{finger}_intermediate" if finger != "thumb" else f"{side}_thumb_distal"

    def _init_embodiment(self) -> None:
        if self.config.action_mode not in ("ee", "joint"):
            raise ConfigError(f"the robot takes action_mode 'ee' or 'joint', got {self.config.action_mode!r}")
        m = self.model
        self.arm_qpos = np.array([[m.joint(f"{s}_{j}").qposadr[0] for j in ARM_JOINTS] for s in SIDES])
        self.hand_qpos = np.array([[m.joint(f"{s}_{j}").qposadr[0] for j in HAND_ACTUATED] for s in SIDES])
        self.arm_ctrl = np.array([[m.actuator(f"{s}_{j}").id for j in ARM_JOINTS] for s in SIDES])
        self.hand_ctrl = np.array([[m.actuator(f"{s}_{j}").id for j in HAND_ACTUATED] for s in SIDES])
        self.hand_low = np.array([HAND_RANGES[j][0] for j in HAND_ACTUATED])
        self.hand_high = np.array([HAND_RANGES[j][1] for j in HAND_ACTUATED])
        self.arm_low = np.array([[m.jnt_range[m.joint(f"{s}_{j}").id][0] for j in ARM_JOINTS] for s in SIDES])
        self.arm_high = np.array([[m.jnt_range[m.joint(f"{s}_{j}").id][1] for j in ARM_JOINTS] for s in SIDES])
        self.robot_qpos = np.concatenate([self.arm_qpos.ravel(), self.hand_qpos.ravel()])
        self.ik = ArmIK(self.model, rest_posture=np.tile(_REST_GUESS, (2, 1)))
        self.home_q = self.ik.solve(
            np.tile(_REST_GUESS, (2, 1)), HOME_POS, np.stack([PALM_DOWN, PALM_DOWN]), iterations=300
        )
        self.ik.rest = self.home_q.copy()
        self._keypoints = HandKeypointReader(self.model)
        self._q_cmd = self.home_q.copy()

    def _embodiment_spaces(self) -> dict:
        box = lambda shape: gym.spaces.Box(-np.inf, np.inf, shape, np.float64)  # noqa: E731
        return {"joint_pos": box((len(self.robot_qpos),)), "ee_pose": box((2, 9)), "hand_joint_pos": box((2, 6))}

    def _reset_embodiment(self) -> None:
        self.data.qpos[self.arm_qpos] = self.home_q
        self._q_cmd = self.home_q.copy()
        self.data.ctrl[self.arm_ctrl] = self.home_q
        self.data.ctrl[self.hand_ctrl] = HAND_OPEN

    def _apply_action(self, action: np.ndarray) -> None:
        q_arm, hand = self._decode_action(action)
        self._q_cmd = q_arm
        self.data.ctrl[self.arm_ctrl] = q_arm
        self.data.ctrl[self.hand_ctrl] = hand

    def _decode_action(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.config.action_mode == "joint":
            per = action.reshape(2, 13)
            return np.clip(per[:, :7], self.arm_low, self.arm_high), np.clip(per[:, 7:], self.hand_low, self.hand_high)
        per = action.reshape(2, 15)
        rot = rot6d_to_matrix(per[:, 3:9])
        q = self.ik.solve(self._q_cmd, per[:, :3], rot)
        return q, np.clip(per[:, 9:], self.hand_low, self.hand_high)

    def _embodiment_observation(self) -> dict:
        d = self.data
        pos, rot = self.ee_poses()
        return {
            "joint_pos": d.qpos[self.robot_qpos].copy(),
            "ee_pose": np.concatenate([pos, matrix_to_rot6d(rot)], axis=1),
            "hand_joint_pos": d.qpos[self.hand_qpos].copy(),
        }

    def robot_state(self) -> np.ndarray:
        return self.data.qpos[self.robot_qpos].astype(np.float64).copy()

    def hand_keypoints(self) -> np.ndarray:
        """(2, 21, 3) world keypoints of the robot hands (NaN where the robot has none)."""
        return self._keypoints(self.data)
