"""`dexego eval motion`: a policy checkpoint (or a baseline) against the samples of a dataset.

Samples are built by :class:`dexego.data.SampleSource` with the policy's
horizon, history and action space, episode by episode in order, so the
evaluation is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

from dexego.evaluate.overlay import overlay_sample, save_png
from dexego.evaluate.policy_motion import HoldCurrentPose, MotionEvalConfig, evaluate_motion

BASELINES = ("hold",)


def load_predictor(policy: str | Path) -> tuple[Any, dict]:
    """A predictor and the sample settings it expects (action_space, horizon, history)."""
    if str(policy) in BASELINES:
        return HoldCurrentPose(horizon=30), {}
    from dexego.serve.loading import load_policy

    loaded = load_policy(policy)
    config = loaded.config
    return loaded, {"action_space": config.action_space, "horizon": config.horizon, "history": config.n_obs_frames - 1}


def dataset_samples(data: str | Path, settings: dict) -> Iterator[dict]:
    """Every sample of every episode of the dataset at ``data``, episode by episode."""
    from dexego.data import SampleConfig, SampleSource

    source = SampleSource(data, SampleConfig(**settings))
    for episode in source.episodes:
        yield from source.samples(episode, source.anchors[episode])


def run_motion_eval(
    policy: str | Path,
    data: str | Path,
    space: str = "ego48",
    steps: tuple[int, ...] = (10, 20, 30),
    max_samples: int = 0,
    overlays: int = 0,
    overlay_dir: str | Path | None = None,
) -> dict:
    """Motion metrics of ``policy`` (checkpoint directory or "hold") on the dataset ``data``.

    With ``overlays`` > 0, the first that many samples are also drawn (current
    frame, true and predicted chunks) as PNGs into ``overlay_dir``.
    """
    predictor, settings = load_predictor(policy)
    space = settings.get("action_space", space)
    settings.setdefault("action_space", space)
    if isinstance(predictor, HoldCurrentPose):
        predictor.horizon = settings.get("horizon", 30)
    saved: list[Path] = []

    def draw(sample: dict, predicted) -> None:
        if len(saved) < overlays and overlay_dir is not None:
            name = f"episode{int(sample['episode_index']):06d}_frame{int(sample['frame_index']):06d}.png"
            saved.append(save_png(Path(overlay_dir) / name, overlay_sample(sample, predicted, space)))

    def progress(done: int) -> None:
        if done % 100 == 0:
            print(f"\r{done} samples", end="", file=sys.stderr, flush=True)

    config = MotionEvalConfig(space=space, steps=steps, max_samples=max_samples)
    result = evaluate_motion(predictor, dataset_samples(data, settings), config, progress, draw)
    print("\r", end="", file=sys.stderr)
    result["policy"] = str(policy)
    result["data"] = str(data)
    result["overlays"] = [str(p) for p in saved]
    return result
