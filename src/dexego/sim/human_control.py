"""The human hand pose controller (wrist pose + finger articulation targets) and natural head motion.

The robot experts' waypoints give, per hand, a robot wrist pose and the 6
Inspire-like hand values. :func:`human_wrist_from_robot` moves the wrist
through a fixed offset in the wrist frame (the human palm is shorter than
the Inspire palm, so the human wrist sits further forward for the fingers to
land where the robot's do), and :func:`fingers_from_inspire` maps the 6 values
to the 20 human joints: thumb yaw -> CMC opposition, thumb pitch -> CMC
flexion, MCP and IP; each finger's proximal -> MCP, PIP and DIP flexion (DIP
coupled to PIP as in human hands), fingers spread a little when open.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexego.geometry import euler_to_matrix, matrix_to_quat
from dexego.sim.hand_mjcf import HAND_RANGES, SIDES
from dexego.sim.human_hand_mjcf import FINGERS, HEAD_POS, HUMAN_JOINTS, HUMAN_RANGES, NUM_HAND_JOINTS

# Human wrist in the robot wrist frame (x distal, z palmar).
WRIST_OFFSET = np.array([0.03, 0.0, 0.0])
_LOW = np.array([HUMAN_RANGES[j][0] for j in HUMAN_JOINTS])
_HIGH = np.array([HUMAN_RANGES[j][1] for j in HUMAN_JOINTS])
_INSPIRE_LOW = np.array([r[0] for r in HAND_RANGES.values()])
_INSPIRE_HIGH = np.array([r[1] for r in HAND_RANGES.values()])
# Thumb pitch -> (CMC flexion, MCP, IP); finger proximal -> (MCP, PIP, DIP); spread of open fingers.
THUMB_PITCH_GAINS = (1.05, 1.95, 2.4)
OPPOSITION_GAIN = 0.7
FINGER_GAINS = (0.85, 1.05, 0.7)
OPEN_SPREAD = {"index": 0.08, "middle": 0.0, "ring": 0.06, "little": 0.14}
_INDEX = {j: i for i, j in enumerate(HUMAN_JOINTS)}


def human_wrist_from_robot(pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) robot wrist positions and (..., 3, 3) rotations -> the human wrist's (same rotation)."""
    pos, rot = np.asarray(pos, dtype=np.float64), np.asarray(rot, dtype=np.float64)
    return pos + rot @ WRIST_OFFSET, rot.copy()


def robot_wrist_from_human(pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos, rot = np.asarray(pos, dtype=np.float64), np.asarray(rot, dtype=np.float64)
    return pos - rot @ WRIST_OFFSET, rot.copy()


def fingers_from_inspire(hand: np.ndarray) -> np.ndarray:
    """(..., 6) Inspire-like values (thumb yaw, thumb pitch, index..little proximal) -> (..., 20) human joint targets."""
    hand = np.clip(np.asarray(hand, dtype=np.float64), _INSPIRE_LOW, _INSPIRE_HIGH)
    out = np.zeros(hand.shape[:-1] + (NUM_HAND_JOINTS,))
    yaw, pitch = hand[..., 0], hand[..., 1]
    out[..., _INDEX["thumb_cmc_opp"]] = OPPOSITION_GAIN * yaw
    for joint, gain in zip(("thumb_cmc_flex", "thumb_mcp", "thumb_ip"), THUMB_PITCH_GAINS):
        out[..., _INDEX[joint]] = gain * pitch
    for k, finger in enumerate(FINGERS):
        f = hand[..., 2 + k]
        for kind, gain in zip(("mcp", "pip", "dip"), FINGER_GAINS):
            out[..., _INDEX[f"{finger}_{kind}"]] = gain * f
        out[..., _INDEX[f"{finger}_abd"]] = OPEN_SPREAD[finger] * np.clip(1.0 - f / 0.8, 0.0, 1.0)
    return np.clip(out, _LOW, _HIGH)


class HumanHandController:
    """Writes wrist (mocap) and finger (position actuator) targets of both human hands into an MjData."""

    def __init__(self, model: mujoco.MjModel):
        self.mocap = np.array([model.body(f"{s}_hand_target").mocapid[0] for s in SIDES])
        self.ctrl = np.array([[model.actuator(f"{s}_{j}").id for j in HUMAN_JOINTS] for s in SIDES])
        self.free_qpos = np.array([model.joint(f"{s}_hand_free").qposadr[0] for s in SIDES])
        self.free_dof = np.array([model.joint(f"{s}_hand_free").dofadr[0] for s in SIDES])
        self.finger_qpos = np.array([[model.joint(f"{s}_{j}").qposadr[0] for j in HUMAN_JOINTS] for s in SIDES])

    def set_targets(
        self, data: mujoco.MjData, wrist_pos: np.ndarray, wrist_rot: np.ndarray, fingers: np.ndarray
    ) -> None:
        """Human wrist positions (2, 3), rotations (2, 3, 3) and finger joints (2, 20)."""
        data.mocap_pos[self.mocap] = wrist_pos
        data.mocap_quat[self.mocap] = matrix_to_quat(np.asarray(wrist_rot, dtype=np.float64))
        data.ctrl[self.ctrl] = np.clip(fingers, _LOW, _HIGH)

    def place(self, data: mujoco.MjData, wrist_pos: np.ndarray, wrist_rot: np.ndarray, fingers: np.ndarray) -> None:
        """Put the hands exactly at the targets (reset), at rest."""
        self.set_targets(data, wrist_pos, wrist_rot, fingers)
        quat = matrix_to_quat(np.asarray(wrist_rot, dtype=np.float64))
        for h in range(2):
            data.qpos[self.free_qpos[h] : self.free_qpos[h] + 3] = wrist_pos[h]
            data.qpos[self.free_qpos[h] + 3 : self.free_qpos[h] + 7] = quat[h]
            data.qvel[self.free_dof[h] : self.free_dof[h] + 6] = 0.0
        data.qpos[self.finger_qpos] = np.clip(fingers, _LOW, _HIGH)

    def finger_positions(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.finger_qpos].copy()


@dataclass(frozen=True)
class HeadMotionConfig:
    """Small natural head motion: a per-episode offset plus a smooth drift (sums of slow sinusoids)."""

    offset_m: float = 0.02  # per-episode standing position spread (uniform +-)
    offset_deg: float = 3.0  # per-episode gaze spread (uniform +-)
    drift_m: float = 0.015  # drift amplitude per axis
    drift_deg: float = 2.0  # drift amplitude per axis
    min_hz: float = 0.05
    max_hz: float = 0.4
    components: int = 3


class HeadMotion:
    """Head pose over time for one episode, reproducible from its random generator."""

    def __init__(self, rng: np.random.Generator, config: HeadMotionConfig = HeadMotionConfig(), enabled: bool = True):
        c = config
        n = c.components
        self.enabled = enabled
        self.offset = np.concatenate(
            [rng.uniform(-c.offset_m, c.offset_m, 3), np.radians(rng.uniform(-c.offset_deg, c.offset_deg, 3))]
        )
        self.freq = rng.uniform(c.min_hz, c.max_hz, (6, n))
        self.phase = rng.uniform(0, 2 * np.pi, (6, n))
        weights = rng.uniform(0.5, 1.0, (6, n))
        amp = np.array([c.drift_m] * 3 + [np.radians(c.drift_deg)] * 3)
        self.amp = weights / weights.sum(axis=1, keepdims=True) * amp[:, None]

    def delta(self, t: float) -> np.ndarray:
        """(6,) position offset (m) and roll/pitch/yaw (rad) about the world x, y, z axes at time t (s)."""
        if not self.enabled:
            return np.zeros(6)
        return self.offset + (self.amp * np.sin(2 * np.pi * self.freq * t + self.phase)).sum(axis=1)

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Head body position (3,) and quaternion (4,) at time t."""
        d = self.delta(t)
        rot = euler_to_matrix(d[3:], "xyz")
        return np.asarray(HEAD_POS) + d[:3], matrix_to_quat(rot)
