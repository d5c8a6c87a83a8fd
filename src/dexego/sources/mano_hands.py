"""21 keypoints from a dataset's MANO parameters, through ``dexego.hands.mano.MANOModel``.

MANO is not shipped: converters that need it take the user's ``--mano-dir``
(holding ``MANO_LEFT.pkl`` and ``MANO_RIGHT.pkl``). ``flat_hand_mean`` is always
passed explicitly by the converter, matching what the dataset's own loader used.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from dexego.errors import ConfigError
from dexego.hands.mano import MANOModel, load_mano_params


def require_mano_dir(mano_dir: Path | None, source: str) -> Path:
    """The MANO directory, or a ConfigError that names exactly what is missing."""
    if mano_dir is None:
        raise ConfigError(
            f"the '{source}' converter needs the MANO hand model: pass --mano-dir DIR with MANO_LEFT.pkl and "
            "MANO_RIGHT.pkl (MANO's licence forbids shipping it; download it from https://mano.is.tue.mpg.de)"
        )
    mano_dir = Path(mano_dir)
    missing = [n for n in ("MANO_LEFT.pkl", "MANO_RIGHT.pkl") if not (mano_dir / n).is_file()]
    if missing:
        raise ConfigError(f"--mano-dir {mano_dir}: missing {', '.join(missing)} (needed by the '{source}' converter)")
    return mano_dir


def load_mano_pair(
    mano_dir: Path | None, source: str, flat_hand_mean: bool, num_pca: int = 45, fix_left_shapedirs: bool = False
) -> dict[str, MANOModel]:
    """Left and right MANO models.

    ``fix_left_shapedirs`` reproduces a correction some loaders (HOT3D's) apply
    to the published MANO_LEFT.pkl, whose first shape direction has the wrong
    sign along x: when left and right ``shapedirs[:, 0, :]`` nearly coincide,
    the left one is negated.
    """
    mano_dir = require_mano_dir(mano_dir, source)
    params = {side: load_mano_params(mano_dir / f"MANO_{side.upper()}.pkl") for side in ("left", "right")}
    if fix_left_shapedirs:
        left, right = params["left"].shapedirs, params["right"].shapedirs
        if np.abs(left[:, 0, :] - right[:, 0, :]).sum() < 1:
            fixed = left.copy()
            fixed[:, 0, :] *= -1
            params["left"] = dataclasses.replace(params["left"], shapedirs=fixed)
    return {side: MANOModel(p, side, flat_hand_mean=flat_hand_mean, num_pca=num_pca) for side, p in params.items()}


def mano_keypoints(
    model: MANOModel,
    *,
    pca: np.ndarray | None = None,
    pose: np.ndarray | None = None,
    global_orient: np.ndarray | None = None,
    betas: np.ndarray | None = None,
    transl: np.ndarray | None = None,
    center_on_wrist: bool = False,
) -> np.ndarray:
    """(T, 21, 3) keypoints in the frame of the parameters (metres).

    ``center_on_wrist`` subtracts the posed wrist before adding ``transl``
    (manopth's ``center_idx=0``, used by TACO), so the wrist lands exactly on
    ``transl``.
    """

    def t(x):
        return None if x is None else torch.as_tensor(np.array(x, dtype=np.float64))

    with torch.no_grad():
        out = model(pca=t(pca), pose=t(pose), global_orient=t(global_orient), betas=t(betas))
        keypoints = out.keypoints.numpy()
    if center_on_wrist:
        keypoints = keypoints - keypoints[..., :1, :]
    if transl is not None:
        keypoints = keypoints + np.asarray(transl, dtype=np.float64)[..., None, :]
    return keypoints
