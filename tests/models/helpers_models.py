"""Synthetic training batches in the data package's "Training sample" format (collated)."""

from __future__ import annotations

import numpy as np

from dexego.actions import get_space
from dexego.geometry import euler_to_matrix, matrix_to_rot6d


def synthetic_chunks(n: int, horizon: int = 30, space: str = "ego48", seed: int = 0) -> np.ndarray:
    """Smooth plausible chunks (n, H, D): wrists drift and turn, fingertips move a little."""
    rng = np.random.default_rng(seed)
    sp = get_space(space)
    t = np.linspace(0, 1, horizon)[None, :, None]
    chunks = np.zeros((n, horizon, sp.dim), dtype=np.float32)
    for side in (0, 1):
        start = rng.normal([0.1 * (2 * side - 1), 0.1, 0.45], 0.05, size=(n, 1, 3))
        chunks[..., sp.part_slice("wrist_pos", side)] = start + rng.normal(0, 0.1, (n, 1, 3)) * t
        angles = rng.normal(0, 0.3, (n, 1, 3)) + rng.normal(0, 0.5, (n, 1, 3)) * t
        chunks[..., sp.part_slice("wrist_rot6d", side)] = matrix_to_rot6d(euler_to_matrix(angles, "xyz"))
        rest = sp.hand_slice(side).stop - sp.part_slice("wrist_rot6d", side).stop
        base = rng.normal(0.06, 0.02, (n, 1, rest))
        chunks[..., sp.part_slice("wrist_rot6d", side).stop : sp.hand_slice(side).stop] = base + 0.02 * np.sin(
            2 * np.pi * t + rng.uniform(0, 6, (n, 1, rest))
        )
    return chunks


def synthetic_batch(
    batch: int = 2, horizon: int = 30, frames: int = 6, size: int = 32, space: str = "ego48", seed: int = 0
) -> dict:
    rng = np.random.default_rng(seed)
    chunks = synthetic_chunks(batch, horizon + 1, space, seed)
    action_valid = np.ones((batch, horizon, 2), dtype=bool)
    action_valid[0, -5:, 1] = False  # right hand leaves the view
    image_mask = np.ones((batch, frames), dtype=bool)
    image_mask[0, :2] = False  # start of an episode: padded history
    return {
        "images": rng.integers(0, 256, (batch, frames, 3, size, size), dtype=np.uint8),
        "image_mask": image_mask,
        "instruction": [f"pick up the cup number {i}" for i in range(batch)],
        "state": chunks[:, 0].copy(),
        "state_valid": np.ones((batch, 2), dtype=bool),
        "actions": chunks[:, 1:].copy(),
        "action_valid": action_valid,
        "fov": np.full((batch, 2), [1.2, 0.9], dtype=np.float32),
        "intrinsics": np.tile(np.array([20.0, 20.0, 16.0, 16.0], dtype=np.float32), (batch, 1)),
        "embodiment": ["human"] * batch,
        "source": ["synthetic"] * batch,
        "episode_index": np.arange(batch, dtype=np.int64),
        "frame_index": np.zeros(batch, dtype=np.int64),
    }


def action_stats(chunks: np.ndarray) -> dict:
    flat = chunks.reshape(-1, chunks.shape[-1])
    return {"mean": flat.mean(0), "std": flat.std(0) + 1e-3, "min": flat.min(0), "max": flat.max(0),
            "q01": np.quantile(flat, 0.01, axis=0), "q99": np.quantile(flat, 0.99, axis=0)}  # fmt: skip
