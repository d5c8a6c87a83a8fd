"""MANO fitted to 21 world keypoints: the ``observation.hands.mano`` feature for datasets that ship no MANO (``dexego data fit-mano``).

Per hand and frame: the wrist frame comes from the keypoints (``hand_frames``);
MANO's root frame is rigidly attached to it (MANO's index, middle and little
MCPs hang off the root, so the frame does not depend on the finger pose), and
the 15 PCA coefficients are fitted to the five fingertips in the wrist frame
by :func:`dexego.retarget.to_human.fit_mano_to_fingertips` (EgoVLA's SmoothL1
fit, also used for robot hands). Shape is MANO's average hand (betas = 0), as
EgoVLA. The reported error compares all 21 keypoints of the fitted MANO hand
with the input, so it includes the bone-length difference between the
recorded hand and the average MANO hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexego.actions.convert import action_to_keypoints, mano_to_action
from dexego.data import features as F
from dexego.errors import InputError
from dexego.geometry.transforms import apply_transform, invert_transform
from dexego.hands.frame import hand_frames
from dexego.hands.layout import FINGERTIPS, SIDES
from dexego.hands.mano import MANOModel
from dexego.sources.mano_hands import require_mano_dir


@dataclass(frozen=True)
class ManoFitConfig:
    iterations: int = 200  # Adam steps of the fingertip fit
    learning_rate: float = 0.1
    frames_per_batch: int = 512  # frames fitted together (memory bound)


def stored_mano_models(mano_dir: str | os.PathLike | None, source: str = "fit-mano") -> tuple[MANOModel, MANOModel]:
    """(left, right) MANO models in the convention of observation.hands.mano (dexego.data.features)."""
    mano_dir = require_mano_dir(Path(mano_dir) if mano_dir is not None else None, source)
    return tuple(
        MANOModel.from_dir(mano_dir, side, flat_hand_mean=F.MANO_FLAT_HAND_MEAN, num_pca=F.MANO_NUM_PCA)
        for side in SIDES
    )


def fit_mano_to_keypoints(
    models: tuple[MANOModel, MANOModel],
    keypoints_world: np.ndarray,
    valid: np.ndarray,
    config: ManoFitConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """World keypoints (T, 2, 21, 3) + validity (T, 2) -> (MANO feature (T, 2, 24) float32, keypoint error (T, 2) metres).

    Both outputs are NaN for invalid hands. The error is the mean distance over the
    keypoints that are finite in the input.
    """
    # The fit is imported here: dexego.retarget is heavy and only this command needs it.
    from dexego.retarget.to_human import fit_mano_to_fingertips

    cfg = config or ManoFitConfig()
    kp = np.asarray(keypoints_world, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if kp.ndim != 4 or kp.shape[1:] != (2, 21, 3) or valid.shape != kp.shape[:2]:
        raise ValueError(f"expected keypoints (T, 2, 21, 3) and validity (T, 2), got {kp.shape} and {valid.shape}")
    needed = kp[:, :, [0, 5, 9, 17, *FINGERTIPS]]
    valid = valid & np.isfinite(needed).all(axis=(-1, -2))
    mano = np.full(kp.shape[:2] + (F.mano_hand_dim(),), np.nan, dtype=np.float32)
    error = np.full(kp.shape[:2], np.nan)
    for start in range(0, len(kp), cfg.frames_per_batch):
        chunk = slice(start, start + cfg.frames_per_batch)
        with _threads(1 if len(kp[chunk]) < _SMALL_BATCH else torch.get_num_threads()):
            mano[chunk], error[chunk] = _fit_chunk(models, kp[chunk], valid[chunk], cfg, fit_mano_to_fingertips)
    return mano, error


# Below this many frames each step is a few hundred tiny tensor ops, and several
# threads per op cost more in synchronisation than they gain (6x slower measured on 4 frames).
_SMALL_BATCH = 128


@contextlib.contextmanager
def _threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_chunk(models, kp: np.ndarray, valid: np.ndarray, cfg: ManoFitConfig, fit) -> tuple[np.ndarray, np.ndarray]:
    # Invalid hands get a copy of a valid hand (or the first one) so the batched fit stays finite; their outputs are dropped.
    filled = np.where(valid[..., None, None], kp, _stand_in(kp, valid))
    world_from_hand = torch.as_tensor(hand_frames(filled))  # (T, 2, 4, 4)
    tips = apply_transform(invert_transform(world_from_hand), torch.as_tensor(filled[:, :, list(FINGERTIPS)]))
    poses, pcas = [], []
    for side, model in enumerate(models):
        result = fit(model, tips[:, side], iterations=cfg.iterations, learning_rate=cfg.learning_rate)
        poses.append(world_from_hand[:, side] @ result.wrist_from_mano)
        pcas.append(result.pca)
    action = mano_to_action(torch.stack(poses, 1), torch.stack(pcas, 1), torch.as_tensor(valid))
    with torch.no_grad():
        decoded = action_to_keypoints(
            action, "mano", mano=models
        ).points.numpy()  # world frame: the poses are world poses
    distance = np.linalg.norm(decoded - kp, axis=-1)  # NaN where the input keypoint is unknown
    known = np.isfinite(distance)
    count = known.sum(-1)
    error = np.where(valid & (count > 0), np.where(known, distance, 0.0).sum(-1) / np.maximum(count, 1), np.nan)
    mano = action.detach().numpy().reshape(len(kp), 2, -1).astype(np.float32)
    mano[~valid] = np.nan
    return mano, error


def _stand_in(kp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.empty_like(kp)
    for side in range(2):
        ok = np.flatnonzero(valid[:, side])
        if len(ok):
            out[:, side] = kp[ok[0], side]
        else:  # no valid frame: a flat synthetic hand along +x
            out[:, side] = 0.0
            out[:, side, 5], out[:, side, 9], out[:, side, 17] = [0.09, 0.02, 0.0], [0.09, 0.0, 0.0], [0.08, -0.04, 0.0]
            out[:, side, list(FINGERTIPS)] = [
                [0.1, 0.06, 0],
                [0.17, 0.02, 0],
                [0.18, 0, 0],
                [0.17, -0.02, 0],
                [0.15, -0.04, 0],
            ]
    return out


def fit_mano_dataset(
    source: str | os.PathLike,
    out: str | os.PathLike,
    mano_dir: str | os.PathLike | None,
    config: ManoFitConfig | None = None,
    progress: bool = False,
) -> dict:
    """Write ``out``: every episode of ``source`` with observation.hands.mano fitted to its keypoints.

    Written into a temporary folder renamed at the end (a failure leaves nothing);
    ``out`` may not exist yet. Returns frames/hands fitted and the keypoint error in mm
    (mean, median, 95th percentile over valid hands).
    """
    from dexego.data import Dataset, DatasetWriter
    from dexego.utils.files import atomic_directory

    source, out = Path(source), Path(out)
    if out.exists():
        raise InputError(out, None, "output already exists; choose a new folder")
    models = stored_mano_models(mano_dir)
    dataset = Dataset(source)
    if F.KEYPOINTS not in dataset.features:
        raise InputError(source / "meta/info.json", F.KEYPOINTS, "fit-mano needs a dexego dataset with world keypoints")
    episodes = range(dataset.num_episodes)
    if progress:
        from dexego.utils.progress import progress_iter

        episodes = progress_iter(episodes, "fit-mano", "episode")
    errors = []
    try:
        with (
            atomic_directory(out) as tmp,
            DatasetWriter(tmp, fps=dataset.fps, robot_type=dataset.info.get("robot_type")) as writer,
        ):
            for index in episodes:
                episode = dataset.episode(index)
                mano, error = fit_mano_to_keypoints(models, episode.keypoints_world, episode.hand_valid, config)
                summary = {"keypoint_error_mm": _summary_mm(error[np.isfinite(error)])}
                metadata = {**episode.metadata, "mano_fit": summary}
                writer.add_episode(dataclasses.replace(episode, hand_mano=mano, metadata=metadata))
                errors.append(error[np.isfinite(error)])
    finally:
        dataset.close()
    every = np.concatenate(errors) if errors else np.zeros(0)
    return {"episodes": len(errors), "hands_fitted": int(every.size), "keypoint_error_mm": _summary_mm(every)}


def _summary_mm(error_m: np.ndarray) -> dict:
    if not error_m.size:
        return {"mean": None, "median": None, "p95": None}
    mm = error_m * 1000.0
    return {"mean": float(mm.mean()), "median": float(np.median(mm)), "p95": float(np.percentile(mm, 95))}
