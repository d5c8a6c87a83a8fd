"""The human embodiment: two free-floating human hands at the table, filmed by a moving head camera.

Action modes:

- ``"ee"`` (30-D, the robot's layout): per hand a ROBOT wrist pose (position
  + rot6d) and the 6 Inspire-like hand values; the human hand pose
  controller maps them (fixed wrist offset, finger mapping). The robot's
  scripted experts drive the human hands through this mode unchanged.
- ``"pose"`` (58-D): per hand the human wrist position (3) + rot6d (6) and
  the 20 finger joint targets (``HUMAN_JOINTS`` order).

Observations add ``keypoints`` (2, 21, 3 world), ``hand_valid`` (2,) (the hand
is in view), ``camera_pose`` (world_from_camera) and ``wrist_pose``; ``ee_pose``
is the robot-equivalent wrist pose (what the experts plan from) and
``hand_joint_pos`` the last commanded 6 Inspire-like values.
"""

from __future__ import annotations

import colorsys

import gymnasium as gym
import numpy as np

from dexego.errors import ConfigError
from dexego.geometry import invert_transform, matrix_to_rot6d, project, rot6d_to_matrix
from dexego.sim.env import HOME_POS, PALM_DOWN, SIDES, TaskEnv
from dexego.sim.human_control import (
    HeadMotion,
    HeadMotionConfig,
    HumanHandController,
    fingers_from_inspire,
    human_wrist_from_robot,
    robot_wrist_from_human,
)
from dexego.sim.human_hand_mjcf import HUMAN_EMBODIMENT, KEYPOINT_SITES, NUM_HAND_JOINTS, human_embodiment_xml
from dexego.sim.scene import EmbodimentXML

HUMAN_ACTION_MODES = ("ee", "pose")
POSE_ACTION_DIM = 2 * (9 + NUM_HAND_JOINTS)
# Natural skin tones (linear RGB in 0..1); a per-episode tone is drawn near one of them.
SKIN_TONES = (
    (0.96, 0.80, 0.69),
    (0.90, 0.72, 0.58),
    (0.80, 0.60, 0.45),
    (0.62, 0.44, 0.32),
    (0.45, 0.31, 0.22),
    (0.33, 0.22, 0.16),
)
VISIBLE_FRACTION = 0.5  # a hand counts as seen (valid) when this share of its keypoints is inside the image


class HumanHandsEnv(TaskEnv):
    """Human hands doing one benchmark task (same tasks, layouts and detectors as the robot)."""

    embodiment = HUMAN_EMBODIMENT

    def __init__(
        self,
        task="Push-Box",
        config=None,
        render_mode=None,
        head_motion: HeadMotionConfig | None = HeadMotionConfig(),
        randomize_appearance: bool = False,
        **overrides,
    ):
        self.head_motion_config = head_motion
        self.randomize_appearance = randomize_appearance
        super().__init__(task, config, render_mode, **overrides)

    # ----------------------------------------------------------------- embodiment hooks
    def _embodiment_xml(self) -> EmbodimentXML:
        return human_embodiment_xml()

    @property
    def action_dim(self) -> int:
        return 30 if self.config.action_mode == "ee" else POSE_ACTION_DIM

    def _tip_geom_name(self, side: str, finger: str) -> str:
        return f"{side}_{finger}_distal"

    def _init_embodiment(self) -> None:
        if self.config.action_mode not in HUMAN_ACTION_MODES:
            raise ConfigError(f"the human hands take action_mode {HUMAN_ACTION_MODES}, got {self.config.action_mode!r}")
        m = self.model
        self.controller = HumanHandController(m)
        self.head_mocap = m.body("head").mocapid[0]
        self.keypoint_sites = np.array([[m.site(f"{s}_{k}").id for k in KEYPOINT_SITES] for s in SIDES])
        self.home_wrist = human_wrist_from_robot(HOME_POS, np.stack([PALM_DOWN, PALM_DOWN]))
        self.hand_bodies = np.array([m.body(f"{s}_hand").id for s in SIDES])
        self.skin_geoms = np.flatnonzero(
            (self.geom_hand >= 0) & ~np.isin(np.arange(m.ngeom), [m.geom(f"{s}_sleeve").id for s in SIDES])
        )
        self.sleeve_geoms = np.array([m.geom(f"{s}_sleeve").id for s in SIDES])
        objects = set(self.object_body_ids.tolist())
        self.object_geoms = np.array(
            [g for g in range(m.ngeom) if self._root_object(m.geom_bodyid[g], objects) is not None], dtype=np.int64
        )
        self.object_geom_owner = np.array(
            [self._root_object(m.geom_bodyid[g], objects) for g in self.object_geoms], dtype=np.int64
        )
        self.base_rgba = m.geom_rgba.copy()
        self._hand_cmd = np.zeros((2, 6))
        self.head = HeadMotion(np.random.default_rng(0), self.head_motion_config or HeadMotionConfig(), enabled=False)

    def _root_object(self, body: int, objects: set[int]) -> int | None:
        while body != 0:
            if body in objects:
                return body
            body = self.model.body_parentid[body]
        return None

    def _embodiment_spaces(self) -> dict:
        box = lambda shape: gym.spaces.Box(-np.inf, np.inf, shape, np.float64)  # noqa: E731
        return {
            "ee_pose": box((2, 9)),
            "wrist_pose": box((2, 9)),
            "hand_joint_pos": box((2, 6)),
            "finger_joint_pos": box((2, NUM_HAND_JOINTS)),
            "keypoints": box((2, 21, 3)),
            "hand_valid": gym.spaces.MultiBinary(2),
            "camera_pose": box((4, 4)),
        }

    def _reset_embodiment(self) -> None:
        self._hand_cmd = np.zeros((2, 6))
        self.controller.place(self.data, *self.home_wrist, fingers_from_inspire(self._hand_cmd))

    def _after_layout(self) -> None:
        # Drawn after the layout so a seed gives the same object layout as the robot env.
        extras = np.random.default_rng(int(self.np_random.integers(2**63)))
        self.head = HeadMotion(
            extras, self.head_motion_config or HeadMotionConfig(), enabled=self.head_motion_config is not None
        )
        self._set_head(0.0)
        self.model.geom_rgba[:] = self.base_rgba
        if self.randomize_appearance:
            self._draw_appearance(extras)

    def _draw_appearance(self, rng: np.random.Generator) -> None:
        tone = np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))]) * rng.uniform(0.93, 1.07)
        self.model.geom_rgba[self.skin_geoms, :3] = np.clip(tone, 0, 1)
        self.model.geom_rgba[self.sleeve_geoms, :3] = colorsys.hsv_to_rgb(
            rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        )
        for body in np.unique(self.object_geom_owner):
            rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95))
            self.model.geom_rgba[self.object_geoms[self.object_geom_owner == body], :3] = rgb

    def _set_head(self, t: float) -> None:
        pos, quat = self.head.pose(t)
        self.data.mocap_pos[self.head_mocap] = pos
        self.data.mocap_quat[self.head_mocap] = quat

    def _apply_action(self, action: np.ndarray) -> None:
        if self.config.action_mode == "ee":
            per = action.reshape(2, 15)
            self._hand_cmd = per[:, 9:].copy()
            pos, rot = human_wrist_from_robot(per[:, :3], rot6d_to_matrix(per[:, 3:9]))
            fingers = fingers_from_inspire(per[:, 9:])
        else:
            per = action.reshape(2, 9 + NUM_HAND_JOINTS)
            pos, rot, fingers = per[:, :3], rot6d_to_matrix(per[:, 3:9]), per[:, 9:]
        self.controller.set_targets(self.data, pos, rot, fingers)
        self._set_head((self._steps + 1) / self.config.control_hz)

    # ----------------------------------------------------------------- state
    def wrist_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """The human wrists: positions (2, 3) and rotations (2, 3, 3) (world)."""
        return self.data.xpos[self.hand_bodies].copy(), self.data.xmat[self.hand_bodies].reshape(2, 3, 3).copy()

    def ee_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """The robot-equivalent wrist poses (what the experts' waypoints are written in)."""
        return robot_wrist_from_human(*self.wrist_poses())

    def hand_keypoints(self) -> np.ndarray:
        """(2, 21, 3) world keypoints of both human hands (all 21, from the sites)."""
        return self.data.site_xpos[self.keypoint_sites].copy()

    def hand_valid(self, keypoints: np.ndarray | None = None, camera_pose: np.ndarray | None = None) -> np.ndarray:
        """(2,) bool: whether each hand is in view (at least half its keypoints in front of the camera and inside the image)."""
        kp = self.hand_keypoints() if keypoints is None else keypoints
        cam = invert_transform(self.camera_pose() if camera_pose is None else camera_pose)
        in_cam = kp @ cam[:3, :3].T + cam[:3, 3]
        intr = self.intrinsics()
        px = project(in_cam, intr)
        inside = (
            (in_cam[..., 2] > 0.05)
            & (px[..., 0] >= 0)
            & (px[..., 0] < intr.width)
            & (px[..., 1] >= 0)
            & (px[..., 1] < intr.height)
        )
        return inside.mean(axis=-1) >= VISIBLE_FRACTION

    def _embodiment_observation(self) -> dict:
        pos, rot = self.ee_poses()
        wpos, wrot = self.wrist_poses()
        kp = self.hand_keypoints()
        cam = self.camera_pose()
        return {
            "ee_pose": np.concatenate([pos, matrix_to_rot6d(rot)], axis=1),
            "wrist_pose": np.concatenate([wpos, matrix_to_rot6d(wrot)], axis=1),
            "hand_joint_pos": self._hand_cmd.copy(),
            "finger_joint_pos": self.controller.finger_positions(self.data),
            "keypoints": kp,
            "hand_valid": self.hand_valid(kp, cam).astype(np.int8),
            "camera_pose": cam,
        }
