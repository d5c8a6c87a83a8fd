"""Human motion prediction metrics: how far predicted future hands are from the true ones.

Per (sample, future step, hand) error terms, computed only where the hand is
valid (``action_valid``):

- ``wrist_cm``: Euclidean wrist position error in the current camera frame, cm.
- ``rotation_deg``: geodesic angle between predicted and true wrist rotations, degrees.
- ``fingertip_cm``: mean over the five fingertips of their position error in the
  camera frame, cm (wrist pose errors included).
- ``fingertip_local_cm``: the same in each hand's own wrist frame, cm (hand
  articulation only, independent of the wrist pose).
- ``wrist_2d``: 2D wrist error in normalised image coordinates: both wrists are
  projected with the sample's intrinsics, pixel coordinates are divided by the
  image width and height, and the Euclidean distance is taken (the convention of
  hand-trajectory forecasting work; EgoVLA reports ~0.13). Only counted where
  both wrists lie in front of the camera.

:class:`MotionMetrics` aggregates these terms over samples (every valid
(sample, step, hand) counts once) overall, per future step, per hand, per
source and per task.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from dexego.actions import action_to_keypoints, get_space
from dexego.actions.spaces import ActionSpace
from dexego.geometry import Intrinsics, apply_transform, invert_transform, project, rotation_angle
from dexego.hands.layout import FINGERTIPS, SIDES

TERMS: tuple[str, ...] = ("wrist_cm", "rotation_deg", "fingertip_cm", "fingertip_local_cm", "wrist_2d")
MIN_DEPTH = 1e-3  # metres; points closer than this are "behind" the camera for 2D errors
FORMAT = "dexego.motion_metrics/1"


@dataclass(frozen=True)
class MotionErrors:
    """Error terms (..., H, 2), NaN where the hand is invalid (or, for ``wrist_2d``, not projectable)."""

    wrist_cm: np.ndarray
    rotation_deg: np.ndarray
    fingertip_cm: np.ndarray
    fingertip_local_cm: np.ndarray
    wrist_2d: np.ndarray

    def term(self, name: str) -> np.ndarray:
        return getattr(self, name)


def motion_errors(
    predicted: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray,
    intrinsics: Intrinsics | np.ndarray,
    image_size: tuple[int, int] | np.ndarray,
    space: str | ActionSpace = "ego48",
    mano=None,
) -> MotionErrors:
    """Per-step, per-hand errors between action chunks (..., H, D) in the current camera frame.

    ``valid`` (..., H, 2) marks the hands to score. ``intrinsics`` is an
    :class:`Intrinsics` or (..., 4) (fx, fy, cx, cy) at the image size
    ``image_size`` = (width, height) (or (..., 2)). ``mano`` = (left, right)
    MANO models, needed only for the ``mano`` space.
    """
    space = get_space(space)
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if predicted.shape != target.shape or predicted.ndim < 2 or predicted.shape[-1] != space.dim:
        raise ValueError(
            f"predicted and target must both have shape (..., H, {space.dim}) for {space.name!r}, "
            f"got {predicted.shape} and {target.shape}"
        )
    if valid.shape != predicted.shape[:-1] + (2,):
        raise ValueError(f"valid must have shape {predicted.shape[:-1] + (2,)}, got {valid.shape}")
    for name, array in (("predicted", predicted), ("target", target)):
        hand_values = array.reshape(array.shape[:-1] + (2, space.hand_dim))
        if not np.isfinite(hand_values[valid]).all():
            raise ValueError(f"{name} actions of valid hands contain NaN or inf")

    pred_hands = action_to_keypoints(predicted, space, mano=mano)
    true_hands = action_to_keypoints(target, space, mano=mano)
    pred_pose, true_pose = pred_hands.wrist_pose, true_hands.wrist_pose  # (..., H, 2, 4, 4)
    pred_wrist, true_wrist = pred_pose[..., :3, 3], true_pose[..., :3, 3]  # (..., H, 2, 3)

    wrist_cm = 100.0 * np.linalg.norm(pred_wrist - true_wrist, axis=-1)
    rotation_deg = np.degrees(rotation_angle(pred_pose[..., :3, :3], true_pose[..., :3, :3]))

    tips = [true_hands.keypoint_indices.index(i) for i in FINGERTIPS]
    pred_tips, true_tips = pred_hands.points[..., tips, :], true_hands.points[..., tips, :]
    fingertip_cm = 100.0 * np.linalg.norm(pred_tips - true_tips, axis=-1).mean(-1)
    pred_local = apply_transform(invert_transform(pred_pose), pred_tips)
    true_local = apply_transform(invert_transform(true_pose), true_tips)
    fingertip_local_cm = 100.0 * np.linalg.norm(pred_local - true_local, axis=-1).mean(-1)

    wrist_2d, projectable = _normalised_2d_error(pred_wrist, true_wrist, intrinsics, image_size)

    def masked(values: np.ndarray, mask: np.ndarray = valid) -> np.ndarray:
        return np.where(mask, values, np.nan)

    return MotionErrors(
        wrist_cm=masked(wrist_cm),
        rotation_deg=masked(rotation_deg),
        fingertip_cm=masked(fingertip_cm),
        fingertip_local_cm=masked(fingertip_local_cm),
        wrist_2d=masked(wrist_2d, valid & projectable),
    )


def _normalised_2d_error(pred: np.ndarray, true: np.ndarray, intrinsics, image_size) -> tuple[np.ndarray, np.ndarray]:
    """(..., H, 2, 3) camera points -> normalised 2D distance (..., H, 2) and a mask of projectable pairs."""
    if isinstance(intrinsics, Intrinsics):
        k = intrinsics.vector
    else:
        k = np.asarray(intrinsics, dtype=np.float64)
        if k.shape[-1] != 4:
            raise ValueError(f"intrinsics must be Intrinsics or (..., 4) (fx, fy, cx, cy), got shape {k.shape}")
        k = k[..., None, None, :]  # broadcast over (H, 2)
    size = np.asarray(image_size, dtype=np.float64)
    if size.shape[-1] != 2 or (size <= 0).any():
        raise ValueError(f"image_size must be positive (width, height), got {size}")
    size = size if size.ndim == 1 else size[..., None, None, :]
    projectable = (pred[..., 2] > MIN_DEPTH) & (true[..., 2] > MIN_DEPTH)
    safe = np.array([0.0, 0.0, 1.0])
    pred_px = project(np.where(projectable[..., None], pred, safe), k)
    true_px = project(np.where(projectable[..., None], true, safe), k)
    return np.linalg.norm((pred_px - true_px) / size, axis=-1), projectable


@dataclass
class _Sums:
    """Per-step sums and counts of every term."""

    horizon: int
    total: dict[str, np.ndarray] = field(default_factory=dict)
    count: dict[str, np.ndarray] = field(default_factory=dict)
    samples: int = 0

    def __post_init__(self) -> None:
        for term in TERMS:
            self.total[term] = np.zeros(self.horizon)
            self.count[term] = np.zeros(self.horizon, dtype=np.int64)

    def add(self, errors: MotionErrors, hands: slice | int = slice(None)) -> None:
        """Add errors (H, 2) of one sample, optionally of one hand only."""
        for term in TERMS:
            values = errors.term(term)[:, hands]
            values = values.reshape(self.horizon, -1)
            finite = np.isfinite(values)
            self.total[term] += np.where(finite, values, 0.0).sum(-1)
            self.count[term] += finite.sum(-1)
        self.samples += 1

    def summary(self, steps: tuple[int, ...]) -> dict:
        out: dict = {"samples": self.samples, "hand_steps": int(self.count["wrist_cm"].sum())}
        for term in TERMS:
            out[term] = _mean(self.total[term].sum(), self.count[term].sum())
        out["at_step"] = {
            str(step): {term: _mean(self.total[term][step - 1], self.count[term][step - 1]) for term in TERMS}
            for step in steps
        }
        return out

    def per_step(self) -> dict[str, list[float | None]]:
        return {term: [_mean(t, c) for t, c in zip(self.total[term], self.count[term])] for term in TERMS}


def _mean(total: float, count: int) -> float | None:
    return float(total / count) if count > 0 else None


class MotionMetrics:
    """Accumulates :class:`MotionErrors` of single samples into summary metrics.

    ``steps`` are the 1-based future steps reported separately (step k is
    k / fps seconds ahead); steps beyond the horizon are an error.
    """

    def __init__(self, horizon: int, steps: tuple[int, ...] = (), fps: float = 30.0, space: str = "ego48"):
        if horizon <= 0:
            raise ValueError(f"horizon must be positive, got {horizon}")
        bad = [s for s in steps if not 1 <= s <= horizon]
        if bad:
            raise ValueError(f"report steps {bad} are outside the horizon 1..{horizon}")
        self.horizon = horizon
        self.steps = tuple(steps)
        self.fps = fps
        self.space = space
        self._overall = _Sums(horizon)
        self._hands = {side: _Sums(horizon) for side in SIDES}
        self._groups: dict[str, dict[str, _Sums]] = defaultdict(dict)

    def add(self, errors: MotionErrors, source: str | None = None, task: str | None = None) -> None:
        """Add one sample's errors (H, 2) with its source and task labels."""
        shape = errors.wrist_cm.shape
        if shape != (self.horizon, 2):
            raise ValueError(f"expected errors of one sample with shape ({self.horizon}, 2), got {shape}")
        self._overall.add(errors)
        for index, side in enumerate(SIDES):
            self._hands[side].add(errors, index)
        for kind, label in (("source", source), ("task", task)):
            if label is not None:
                self._groups[kind].setdefault(label, _Sums(self.horizon)).add(errors)

    def add_batch(self, errors: MotionErrors, sources=None, tasks=None) -> None:
        """Add errors (B, H, 2) with per-sample labels."""
        count = errors.wrist_cm.shape[0]
        for i in range(count):
            one = MotionErrors(*(errors.term(term)[i] for term in TERMS))
            self.add(one, None if sources is None else sources[i], None if tasks is None else tasks[i])

    def result(self) -> dict:
        """JSON-able summary (see module docstring for the terms; None where nothing was counted)."""
        return {
            "format": FORMAT,
            "space": self.space,
            "horizon": self.horizon,
            "fps": self.fps,
            "steps": list(self.steps),
            "overall": self._overall.summary(self.steps),
            "per_step": self._overall.per_step(),
            "by_hand": {side: sums.summary(self.steps) for side, sums in self._hands.items()},
            "by_source": {k: v.summary(self.steps) for k, v in sorted(self._groups["source"].items())},
            "by_task": {k: v.summary(self.steps) for k, v in sorted(self._groups["task"].items())},
        }


def steps_for_seconds(seconds: tuple[float, ...], fps: float, horizon: int) -> tuple[int, ...]:
    """Future steps (1-based) nearest to the given look-ahead times, clipped to the horizon."""
    return tuple(sorted({min(horizon, max(1, int(round(s * fps)))) for s in seconds if math.isfinite(s)}))


def motion_summary_line(result: dict) -> str:
    """One human-readable line of a :meth:`MotionMetrics.result`."""
    overall = result["overall"]
    parts = [f"{overall['samples']} samples, {overall['hand_steps']} hand-steps"]
    for term, label, unit, digits in (
        ("wrist_cm", "wrist", " cm", 2),
        ("rotation_deg", "rotation", " deg", 1),
        ("fingertip_cm", "fingertips", " cm", 2),
        ("wrist_2d", "2D wrist", "", 3),
    ):
        value = overall[term]
        parts.append(f"{label} {'n/a' if value is None else f'{value:.{digits}f}'}{unit if value is not None else ''}")
    return ": ".join([parts[0], ", ".join(parts[1:])])
