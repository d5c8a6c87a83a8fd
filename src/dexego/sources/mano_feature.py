"""``observation.hands.mano`` from a dataset's own MANO parameters (one place for every converter).

The stored convention is :data:`dexego.data.features.MANO_FLAT_HAND_MEAN` /
:data:`~dexego.data.features.MANO_NUM_PCA`: 15 PCA coefficients of the finger
pose relative to the MANO file's ``hands_mean``. Datasets store a full 45-D
axis-angle pose, either already relative to ``hands_mean`` (their loader used
``flat_hand_mean=False``) or absolute (``flat_hand_mean=True``); the
coefficients are the least-squares projection of the relative pose onto the
first 15 ``hands_components`` rows (through the pseudo-inverse, so rows need
not be orthonormal). For real poses this is lossy: the residual is returned.
The root is the wrist keypoint (MANO's root joint) and the world rotation of
the root joint, i.e. the dataset's global orientation carried into the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.actions.convert import mano_to_action
from dexego.data.features import MANO_FLAT_HAND_MEAN, MANO_NUM_PCA
from dexego.geometry import make_transform
from dexego.hands.layout import SIDES
from dexego.hands.mano import MANOParams, load_mano_params
from dexego.sources.mano_hands import require_mano_dir


@dataclass(frozen=True)
class PCAProjector:
    """The PCA basis of one hand's MANO file: ``hands_components`` (45, 45) and ``hands_mean`` (45,)."""

    hands_components: np.ndarray
    hands_mean: np.ndarray

    @classmethod
    def from_params(cls, params: MANOParams) -> PCAProjector:
        return cls(np.asarray(params.hands_components, np.float64), np.asarray(params.hands_mean, np.float64))

    @property
    def components(self) -> np.ndarray:
        """(MANO_NUM_PCA, 45): the rows the stored coefficients weigh."""
        return self.hands_components[:MANO_NUM_PCA]

    def pose_from_coefficients(self, coefficients: np.ndarray) -> np.ndarray:
        """(..., k) PCA coefficients of a dataset that stores them (manopth ``use_pca``) -> (..., 45) pose relative to the mean."""
        coefficients = np.asarray(coefficients, np.float64)
        return coefficients @ self.hands_components[: coefficients.shape[-1]]

    def relative_pose(self, pose: np.ndarray, source_flat_hand_mean: bool) -> np.ndarray:
        """(..., 45) pose as a dataset stores it -> pose relative to the stored convention's mean."""
        pose = np.asarray(pose, np.float64)
        if pose.shape[-1] != 45:
            raise ValueError(f"expected a 45-D finger pose, got shape {pose.shape}")
        absolute = pose if source_flat_hand_mean else pose + self.hands_mean
        return absolute if MANO_FLAT_HAND_MEAN else absolute - self.hands_mean

    def project(self, pose: np.ndarray, source_flat_hand_mean: bool) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares PCA coefficients (..., 15) of a (..., 45) pose, and the residual norm (...,) in radians."""
        relative = self.relative_pose(pose, source_flat_hand_mean)
        pca = relative @ np.linalg.pinv(self.components)
        residual = np.linalg.norm(relative - pca @ self.components, axis=-1)
        return pca, residual


def load_projectors(mano_dir: Path | None, source: str) -> dict[str, PCAProjector]:
    """Left and right projectors from ``MANO_{LEFT,RIGHT}.pkl`` (a ConfigError naming what is missing)."""
    mano_dir = require_mano_dir(mano_dir, source)
    return {side: PCAProjector.from_params(load_mano_params(mano_dir / f"MANO_{side.upper()}.pkl")) for side in SIDES}


@dataclass(frozen=True)
class ManoFeature:
    hand_mano: np.ndarray  # (T, 2, 24) float32, NaN for invalid hands
    mean_loss_rad: float | None  # mean 45-D residual norm over valid hands (None when no hand is valid)


def mano_feature(
    projectors: dict[str, PCAProjector],
    pose: np.ndarray,
    root_rotation_world: np.ndarray,
    wrist_world: np.ndarray,
    valid: np.ndarray,
    source_flat_hand_mean: bool,
) -> ManoFeature:
    """``observation.hands.mano`` (T, 2, 24) from per-hand dataset poses.

    pose (T, 2, 45) as the dataset stores it; root_rotation_world (T, 2, 3, 3): the
    global orientation carried into the converter's world frame; wrist_world
    (T, 2, 3): the converted keypoint 0 (so the stored root equals it exactly);
    valid (T, 2). Values of invalid hands are ignored.
    """
    pose = np.asarray(pose, np.float64)
    valid = np.asarray(valid, bool)
    n = len(valid)
    if pose.shape != (n, 2, 45) or np.shape(root_rotation_world) != (n, 2, 3, 3) or np.shape(wrist_world) != (n, 2, 3):
        raise ValueError(f"expected pose ({n}, 2, 45), rotations ({n}, 2, 3, 3), wrists ({n}, 2, 3); got "
                         f"{pose.shape}, {np.shape(root_rotation_world)}, {np.shape(wrist_world)}")  # fmt: skip
    pca, loss = np.zeros((n, 2, MANO_NUM_PCA)), np.zeros((n, 2))
    for h, side in enumerate(SIDES):
        pca[:, h], loss[:, h] = projectors[side].project(
            np.where(valid[:, h, None], pose[:, h], 0.0), source_flat_hand_mean
        )
    rotation = np.where(valid[..., None, None], np.asarray(root_rotation_world, np.float64), np.eye(3))
    root = make_transform(rotation, np.where(valid[..., None], np.asarray(wrist_world, np.float64), 0.0))
    hand_mano = mano_to_action(root, pca, valid).reshape(n, 2, -1)
    hand_mano[~valid] = np.nan
    return ManoFeature(hand_mano.astype(np.float32), float(loss[valid].mean()) if valid.any() else None)
