"""Simulator observations -> dexego model observations, laid out exactly like training samples.

The robot's head camera is fixed to its torso and its palm sites are rigid
in the wrist site's frame, so everything a sample needs comes from the env
observation (``ee_pose``, ``fingertips``, ``image``) plus a few constants
read once from the task's MuJoCo model (:class:`SimRobotGeometry`):

- hand keypoints (world): wrist / index, middle, little MCP = the wrist site
  pose applied to their fixed offsets; fingertips = the observed tip sites
  (the very sites :class:`dexego.sim.robot_keypoints.HandKeypointReader`
  reads when demonstrations are recorded);
- ``state`` = ``keypoints_to_action`` of those keypoints in the camera frame;
- history frames and ``image_mask`` from :func:`dexego.data.samples.history_frames`
  with the control step as the frame index and the control rate as fps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.actions import get_space, keypoints_to_action
from dexego.errors import InputError
from dexego.geometry import Intrinsics, rot6d_to_matrix
from dexego.hands import FINGERTIPS

PALM_KEYPOINTS = (0, 5, 9, 17)  # wrist, index / middle / little MCP: rigid on the palm


@dataclass(frozen=True)
class SimRobotGeometry:
    """Constants of the simulated robot a model observation needs (numbers in the world frame)."""

    world_from_camera: np.ndarray  # (4, 4), OpenCV axes, constant (the head is fixed to the torso)
    intrinsics: Intrinsics  # of the ego camera at ``intrinsics.width`` x ``intrinsics.height``
    palm_offsets: np.ndarray  # (2, 4, 3): keypoints 0, 5, 9, 17 in each wrist site's frame
    embodiment: str
    instruction: str
    # Names of the env's ``hand_joint_pos`` entries, left then right (``left_thumb_yaw``, ...).
    hand_joint_names: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env) -> SimRobotGeometry:
        """Read from a :class:`dexego.sim.env.HumanoidTaskEnv` (any state: the palm is rigid, the camera fixed)."""
        import mujoco

        from dexego.sim.robot_keypoints import HandKeypointReader

        # Recompute poses (bodies, sites, cameras) from the current qpos; no state changes.
        mujoco.mj_kinematics(env.model, env.data)
        mujoco.mj_camlight(env.model, env.data)
        keypoints = HandKeypointReader(env.model)(env.data)[:, list(PALM_KEYPOINTS)]  # (2, 4, 3) world
        pos, rot = env.ee_poses()
        offsets = np.einsum("hji,hkj->hki", rot, keypoints - pos[:, None])  # R^T (p - wrist)
        from dexego.sim.hand_mjcf import HAND_ACTUATED

        names = tuple(f"{side}_{joint}" for side in ("left", "right") for joint in HAND_ACTUATED)
        return cls(env.camera_pose(), env.intrinsics(), offsets, env.embodiment, env.task.instruction, names)

    @classmethod
    def for_task(cls, task: str) -> SimRobotGeometry:
        from dexego.sim.env import HumanoidTaskEnv

        env = HumanoidTaskEnv(task, render=False)
        try:
            return cls.from_env(env)
        finally:
            env.close()

    def hand_keypoints(self, observation: dict) -> np.ndarray:
        """(2, 21, 3) world keypoints (NaN where the robot has none) from an env observation."""
        ee = _field(observation, "ee_pose", (2, 9))
        tips = _field(observation, "fingertips", (2, 5, 3))
        rot = rot6d_to_matrix(ee[:, 3:])
        out = np.full((2, 21, 3), np.nan)
        out[:, list(PALM_KEYPOINTS)] = ee[:, None, :3] + np.einsum("hij,hkj->hki", rot, self.palm_offsets)
        out[:, list(FINGERTIPS)] = tips
        return out


def _field(observation: dict, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in observation:
        raise InputError("observation", name, "missing (the robot env's observation provides it)")
    value = np.asarray(observation[name], dtype=np.float64)
    if value.shape != shape:
        raise InputError("observation", name, f"expected shape {shape}, got {value.shape}")
    if not np.isfinite(value).all():
        raise InputError("observation", name, "contains NaN or inf")
    return value


@dataclass(frozen=True)
class HistoryConfig:
    frames: int = 6  # observation frames (history + current), the policy's n_obs_frames
    spacing_s: float = 0.2  # between history frames, as dexego.data.SampleConfig.history_spacing_s
    control_hz: float = 30.0  # the env's control rate: one pushed observation per 1/control_hz s
    image_size: int | None = None  # square side the frames are resized to; None: as rendered
    action_space: str = "ego48"

    def sample_config(self):
        from dexego.data.samples import SampleConfig

        return SampleConfig(history=self.frames - 1, history_spacing_s=self.spacing_s, action_space=self.action_space)


class ObservationHistory:
    """Per-episode buffer: ``push`` every env observation, call it for the model observation of the latest step."""

    def __init__(self, geometry: SimRobotGeometry, config: HistoryConfig = HistoryConfig(), mano=None):
        """``mano``: (left, right) MANO models, needed for the ``mano`` space (the robot hands' state is a MANO fit)."""
        if config.frames < 1:
            raise InputError(None, "frames", f"must be at least 1, got {config.frames}")
        self.geometry = geometry
        self.config = config
        self.space = get_space(config.action_space)
        self.hand_space = get_space(self.space.hand_space or "ego48") if self.space.is_robot else self.space
        self.mano = mano
        if self.hand_space.name == "mano":
            from dexego.retarget.commands import load_mano_pair
            from dexego.retarget.robots import load_robot

            if mano is None:
                load_mano_pair(None)  # the clear error
            robot = load_robot(geometry.embodiment)
            self._robot_hands = (robot.hands["left"], robot.hands["right"])
        self._sample = config.sample_config()
        self._span = int(np.ceil((config.frames - 1) * config.spacing_s * config.control_hz)) + 1  # frames kept
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.step = -1
        self._frames: dict[int, np.ndarray] = {}
        self._state: np.ndarray | None = None

    def push(self, observation: dict) -> None:
        if "image" not in observation:
            raise InputError("observation", "image", "missing: model policies need a rendering env (render=True)")
        image = np.asarray(observation["image"])
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise InputError("observation", "image", f"expected (H, W, 3) uint8, got {image.dtype} {image.shape}")
        self.step += 1
        self._frames[self.step] = resize_like_backbone(image.transpose(2, 0, 1)[None], self.config.image_size)[0]
        self._frames.pop(self.step - self._span, None)
        self._state = self.encode_state(observation)

    def encode_state(self, observation: dict) -> np.ndarray:
        """The current hands in the policy's action space, in the camera frame (as the training samples' ``state``)."""
        keypoints = self.geometry.hand_keypoints(observation)
        valid = np.ones(2, dtype=bool)  # robot hands are always there (as in the recorded demonstrations)
        camera = self.geometry.world_from_camera
        if self.hand_space.name == "mano":
            from dexego.hands.frame import hand_frames

            camera_from_wrist = np.linalg.inv(camera) @ hand_frames(keypoints)
            joints = _field(observation, "hand_joint_pos", (2, self._robot_hands[0].num_joints))
            hand, _ = robot_to_mano(self._robot_hands, self.mano, joints, camera_from_wrist)
        else:
            hand = keypoints_to_action(keypoints, camera, valid, self.hand_space)
        hand = np.asarray(hand, dtype=np.float32)
        if not self.space.is_robot:
            return hand
        state = np.zeros(self.space.dim, dtype=np.float32)
        for side in range(2):
            for part in self.hand_space.part_names:
                if part in self.space.part_names:
                    state[self.space.part_slice(part, side)] = hand[self.hand_space.part_slice(part, side)]
        joints = np.asarray(observation.get("hand_joint_pos"), dtype=np.float64).reshape(-1)
        names = self.geometry.hand_joint_names
        for dim, name, carried in zip(self.space.joint_index(), self.space.joint_names, self.space.joint_carried):
            if carried:
                if name not in names:
                    raise InputError("observation", "hand_joint_pos", f"the simulated robot has no joint {name!r}")
                state[dim] = joints[names.index(name)]
        return state

    def __call__(self, observation: dict | None = None) -> dict:
        """The model observation at the latest pushed step (``observation`` is ignored: the buffer holds it)."""
        from dexego.data.samples import history_frames

        if self.step < 0:
            raise RuntimeError("no observation pushed since reset()")
        index, mask = history_frames(self.step, self.config.control_hz, self._sample)
        # Padded entries (before the episode start) point at frame 0, as in training samples.
        images = np.stack([self._frames[int(i)] for i in index])
        height, width = images.shape[-2:]
        intrinsics = self.geometry.intrinsics.scaled(width, height)
        return {
            "images": images,
            "image_mask": mask,
            "instruction": self.geometry.instruction,
            "state": self._state.copy(),
            "state_valid": np.ones(2, dtype=bool),
            "fov": np.asarray(intrinsics.fov, dtype=np.float32),
            "intrinsics": np.asarray(intrinsics.vector, dtype=np.float32),
            "embodiment": self.geometry.embodiment,
            "frame_index": np.int64(self.step),
        }


def robot_to_mano(hands, mano, joints, camera_from_wrist):
    from dexego.retarget.to_human import robot_to_mano_action

    return robot_to_mano_action(hands, mano, joints, camera_from_wrist, iterations=30)


def resize_like_backbone(frames: np.ndarray, size: int | None) -> np.ndarray:
    """(T, 3, H, W) uint8 -> (T, 3, size, size) uint8 with the bilinear antialiased resize the backbones use.

    It does ahead of time (so a history or a server request holds small frames) exactly what the
    backbone would do to a larger frame. Not :func:`dexego.data.writer.resize_frames`: that one is
    swscale on (T, H, W, 3) for storing video, and would hand the model slightly different pixels.
    """
    if size is None or frames.shape[-2:] == (size, size):
        return np.ascontiguousarray(frames)
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(np.ascontiguousarray(frames)).float()
    out = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8).numpy()
