"""Constructed hand chunks with known geometry, shared by the evaluate tests."""

from __future__ import annotations

import numpy as np

from dexego.geometry import matrix_to_rot6d

# Fingertips in the wrist frame (metres), thumb to little.
TIPS_LOCAL = np.array([[0.05, 0.06, 0.0], [0.17, 0.03, 0.0], [0.18, 0.0, 0.0], [0.17, -0.02, 0.0], [0.15, -0.04, 0.0]])


def hand_chunk(
    horizon: int = 30,
    wrist=((-0.1, 0.0, 0.5), (0.1, 0.0, 0.5)),
    rotation=(np.eye(3), np.eye(3)),
    tips=(TIPS_LOCAL, TIPS_LOCAL),
) -> np.ndarray:
    """An ego48 chunk (horizon, 48) with the same hands at every step."""
    chunk = np.zeros((horizon, 48))
    for hand in range(2):
        base = 24 * hand
        chunk[:, base : base + 3] = wrist[hand]
        chunk[:, base + 3 : base + 9] = matrix_to_rot6d(np.asarray(rotation[hand], dtype=np.float64))
        chunk[:, base + 9 : base + 24] = np.asarray(tips[hand]).reshape(15)
    return chunk


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def synthetic_dataset(root, lengths=(45, 40)):
    """A small dexego dataset of synthetic episodes (video + hands) at ``root``."""
    from dexego.data import DatasetWriter, WriterConfig
    from dexego.data.synthetic import synthetic_episode

    with DatasetWriter(root, WriterConfig()) as writer:
        for seed, length in enumerate(lengths):
            writer.add_episode(synthetic_episode(length=length, seed=seed))
    return root


def tiny_policy_checkpoint(path, horizon: int = 8):
    """A randomly initialised tiny Policy (32 px, one layer) saved at ``path``."""
    import torch

    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig

    config = {"horizon": horizon, "tiny": {"image_size": 32, "patch_size": 16, "width": 32, "depth": 1, "heads": 2, "max_text_bytes": 16},
              "regression": {"width": 32, "depth": 1, "heads": 2}}  # fmt: skip
    torch.manual_seed(0)
    Policy(load_config(PolicyConfig, config), None).save(path)
    return path
