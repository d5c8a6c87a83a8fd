"""Synthetic episodes (moving hands, moving camera, a simple rendered video) for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from dexego.data.episode import Episode
from dexego.geometry import Intrinsics, euler_to_matrix, make_transform

# A plausible right hand in its own frame (metres): wrist at the origin, fingers along +x.
_FINGER_DIRS = np.array([[0.6, 0.8, 0.0], [1.0, 0.25, 0.0], [1.0, 0.0, 0.0], [1.0, -0.2, 0.0], [0.9, -0.4, 0.0]])


def _canonical_hand() -> np.ndarray:
    points = np.zeros((21, 3))
    for finger, direction in enumerate(_FINGER_DIRS):
        direction = direction / np.linalg.norm(direction)
        base = 0.03 if finger == 0 else 0.09
        for joint in range(4):
            points[1 + 4 * finger + joint] = direction * (base * (0.4 if finger == 0 else 1.0) + 0.025 * joint)
            if finger == 0:
                points[1 + joint] = direction * (0.02 + 0.025 * joint)
    points[..., 2] += np.linspace(0, 0.01, 21)  # not all coplanar
    return points


def synthetic_episode(
    length: int = 45,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    fps: int = 30,
    video: bool = True,
    instructions: list[tuple[int, int, str]] | None = None,
    invalid_left_frames: slice | None = None,
) -> Episode:
    """A reproducible episode: both hands move smoothly in front of a slowly moving camera."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / fps
    phase = rng.uniform(0, 2 * np.pi, 4)
    hand = _canonical_hand()
    kp = np.zeros((length, 2, 21, 3))
    for side in range(2):
        angles = np.stack(
            [0.3 * np.sin(t + phase[side]), 0.2 * np.cos(1.3 * t + phase[side]), 0.5 * np.sin(0.7 * t)], -1
        )
        rot = euler_to_matrix(angles, "xyz")
        pos = np.stack(
            [
                (-0.15 if side == 0 else 0.15) + 0.05 * np.sin(2 * t + phase[2]),
                0.1 * np.cos(t),
                0.5 + 0.05 * np.sin(t + phase[3]),
            ],
            -1,
        )
        local = hand * (np.array([1, -1, 1]) if side == 0 else 1)
        kp[:, side] = np.einsum("tij,kj->tki", rot, local) + pos[:, None]
    cam_angles = np.stack([0.05 * np.sin(0.5 * t), 0.1 * np.sin(0.3 * t + phase[0]), np.zeros(length)], -1)
    cam_pos = np.stack([0.02 * t, 0.01 * np.sin(t), np.zeros(length)], -1)
    world_from_camera = make_transform(euler_to_matrix(cam_angles, "xyz"), cam_pos)
    valid = np.ones((length, 2), dtype=bool)
    if invalid_left_frames is not None:
        valid[invalid_left_frames, 0] = False
        kp[invalid_left_frames, 0] = np.nan
    frames = None
    if video:
        h, w = size
        yy, xx = np.mgrid[0:h, 0:w]
        frames = np.empty((length, h, w, 3), dtype=np.uint8)
        for i in range(length):
            frames[i, ..., 0] = (xx * 4 + i * 3 + seed * 20) % 256
            frames[i, ..., 1] = (yy * 4 + i * 2) % 256
            frames[i, ..., 2] = 128 + 100 * np.sin((xx + yy) / 9.0 + i / 5.0)
    if instructions is None:
        instructions = [(0, length // 2, f"pick up the cube {seed}"), (length // 2, length, "place it in the bowl")]
    intrinsics = Intrinsics.from_fov(np.deg2rad(90), size[1], size[0])
    return Episode(
        keypoints_world=kp.astype(np.float32),
        hand_valid=valid,
        world_from_camera=world_from_camera.astype(np.float32),
        intrinsics=intrinsics,
        frames=frames,
        fps=fps,
        instructions=instructions,
        source="synthetic",
        embodiment="human",
        metadata={"seed": seed},
    )
