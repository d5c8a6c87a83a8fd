"""Evaluate a hand-motion predictor (a dexego Policy or a baseline) on dataset samples.

A predictor is anything with ``predict_action_chunk(observation) -> (H, D)``:
the :class:`dexego.models.Policy` contract. ``observation`` is a training
sample without its targets (``actions``, ``action_valid``, ``robot_actions``).
Samples come one at a time (dicts as produced by ``dexego.data``) or batched
by the default collate; batches are split into single observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dexego.actions import get_space
from dexego.errors import ConfigError, InputError
from dexego.evaluate.motion import MotionMetrics, motion_errors

TARGET_KEYS = ("actions", "action_valid", "robot_actions")
REQUIRED_KEYS = ("actions", "action_valid", "intrinsics", "images")


class MotionPredictor(Protocol):
    def predict_action_chunk(self, observation: dict[str, Any]) -> np.ndarray: ...


@dataclass(frozen=True)
class MotionEvalConfig:
    """Motion-error evaluation settings: action space, look-ahead steps reported on their own, frame rate."""

    space: str = "ego48"
    steps: tuple[int, ...] = (10, 20, 30)  # 1-based future steps reported on their own (1/3 s, 2/3 s, 1 s at 30 Hz)
    fps: float = 30.0
    max_samples: int = 0  # 0 = all


def evaluate_motion(
    predictor: MotionPredictor,
    samples: Iterable[dict[str, Any]],
    config: MotionEvalConfig = MotionEvalConfig(),
    progress=None,
    on_prediction=None,
) -> dict:
    """Run ``predictor`` on every sample and return the motion metrics (:meth:`MotionMetrics.result`).

    ``progress`` (optional) is called with the number of samples done so far;
    ``on_prediction`` (optional) with each single sample and its predicted chunk (e.g. to draw overlays).
    """
    space = get_space(config.space)
    metrics: MotionMetrics | None = None
    done = 0
    for sample in iter_single_samples(samples):
        target = _array(sample, "actions", np.float64)
        valid = _array(sample, "action_valid", bool)
        if target.ndim != 2 or target.shape[-1] != space.dim:
            raise InputError(None, "actions", f"expected (H, {space.dim}) for {space.name!r}, got {target.shape}")
        if metrics is None:
            beyond = [s for s in config.steps if not 1 <= s <= target.shape[0]]
            if beyond:
                raise ConfigError(f"report steps {beyond} are outside the chunk's horizon 1..{target.shape[0]}")
            metrics = MotionMetrics(target.shape[0], tuple(config.steps), config.fps, space.name)
        predicted = predict_chunk(predictor, sample, target.shape, valid, space.hand_dim)
        images = _array(sample, "images", None)
        image_size = (images.shape[-1], images.shape[-2])
        errors = motion_errors(predicted, target, valid, _array(sample, "intrinsics", np.float64), image_size, space)
        metrics.add(errors, source=_label(sample.get("source")), task=_label(sample.get("instruction")))
        if on_prediction is not None:
            on_prediction(sample, predicted)
        done += 1
        if progress is not None:
            progress(done)
        if config.max_samples and done >= config.max_samples:
            break
    if metrics is None:
        raise InputError(None, "samples", "no samples to evaluate")
    return metrics.result()


def predict_chunk(predictor: MotionPredictor, sample: dict[str, Any], shape: tuple[int, ...], valid: np.ndarray,
                  hand_dim: int) -> np.ndarray:  # fmt: skip
    """The predictor's chunk for one sample (its targets withheld), checked: ``shape`` and finite for valid hands."""
    observation = {k: v for k, v in sample.items() if k not in TARGET_KEYS}
    predicted = np.asarray(_numpy(predictor.predict_action_chunk(observation)), dtype=np.float64)
    if predicted.ndim == 3 and predicted.shape[0] == 1:
        predicted = predicted[0]
    if predicted.shape != tuple(shape):
        raise InputError(None, "predict_action_chunk", f"returned shape {predicted.shape}, expected {tuple(shape)}")
    if not np.isfinite(predicted.reshape(-1, 2, hand_dim)[valid]).all():
        where = f"episode {_label(sample.get('episode_index'))}, frame {_label(sample.get('frame_index'))}"
        raise InputError(None, "predict_action_chunk", f"returned NaN or inf for a valid hand ({where})")
    return predicted


def iter_single_samples(samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield single samples from single or batched (leading batch axis) sample dicts."""
    for sample in samples:
        missing = [k for k in REQUIRED_KEYS if k not in sample]
        if missing:
            raise InputError(None, ", ".join(missing), "missing from the sample")
        actions = sample["actions"]
        if np.ndim(actions) == 2:
            yield sample
            continue
        for i in range(len(actions)):
            yield {key: _index(value, i) for key, value in sample.items()}


def _index(value: Any, i: int) -> Any:
    if isinstance(value, (list, tuple)) or hasattr(value, "shape"):
        return value[i]
    return value


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _array(sample: dict[str, Any], key: str, dtype) -> np.ndarray:
    value = _numpy(sample[key])
    return value if dtype is None else value.astype(dtype, copy=False)


def _label(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    return str(value)


class HoldCurrentPose:
    """Baseline predictor: every future step equals the current hands (``state``)."""

    def __init__(self, horizon: int = 30):
        self.horizon = horizon

    def predict_action_chunk(self, observation: dict[str, Any]) -> np.ndarray:
        state = np.asarray(_numpy(observation["state"]), dtype=np.float64)
        if state.ndim == 2:
            state = state[0]
        return np.repeat(state[None], self.horizon, axis=0)
