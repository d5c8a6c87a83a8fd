"""Which hand is which: left/right assignment that does not trust one frame's handedness alone.

Handedness classifiers flip on egocentric views (a palm-down right hand seen
from above looks like a palm-up left hand), and a flip puts a hand tens of
centimetres away in 3D. ``"track"`` assigns sides by continuity in the image:
two hands -> the assignment nearest the hands' recent wrist positions (or,
with no recent track, the leftmost hand is the left one, as in egocentric
views); one hand -> the side whose recent wrist is nearest, if close, else
the estimator's label. ``"estimator"`` keeps the labels as given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dexego.annotate.estimators.base import HandDetection
from dexego.errors import ConfigError
from dexego.hands import SIDES


@dataclass(frozen=True)
class SideConfig:
    mode: str = "track"  # "track" or "estimator"
    memory_frames: int = 15  # how long a lost hand's last wrist position is remembered
    gate: float = 0.15  # a single hand joins a remembered side only within this fraction of the image width

    def __post_init__(self) -> None:
        if self.mode not in ("track", "estimator"):
            raise ConfigError(f"sides.mode must be track or estimator, got {self.mode!r}")


def assign_sides(
    detections: list[list[HandDetection]], width: int, config: SideConfig = SideConfig()
) -> list[list[HandDetection]]:
    """Detections with ``side`` re-assigned (at most one hand per side per frame, most confident first)."""
    if config.mode == "estimator":
        return [_one_per_side(frame) for frame in detections]
    last: dict[str, tuple[np.ndarray, int] | None] = {s: None for s in SIDES}
    out = []
    for t, frame in enumerate(detections):
        hands = sorted(frame, key=lambda d: -d.confidence)[:2]
        recent = {s: v[0] for s, v in last.items() if v is not None and t - v[1] <= config.memory_frames}
        if len(hands) == 2:
            a, b = hands
            if len(recent) == 2:
                keep = _distance(a, recent["left"]) + _distance(b, recent["right"])
                swap = _distance(a, recent["right"]) + _distance(b, recent["left"])
                sides = ("left", "right") if keep <= swap else ("right", "left")
            else:
                sides = ("left", "right") if a.keypoints_2d[0, 0] <= b.keypoints_2d[0, 0] else ("right", "left")
            assigned = [replace(a, side=sides[0]), replace(b, side=sides[1])]
        elif len(hands) == 1:
            hand = hands[0]
            side = hand.side
            if recent:
                nearest = min(recent, key=lambda s: _distance(hand, recent[s]))
                if _distance(hand, recent[nearest]) <= config.gate * width:
                    side = nearest
                elif len(recent) == 1 and nearest == side:
                    # Far from the only remembered hand yet labelled as it: it is the other hand.
                    side = SIDES[1 - SIDES.index(nearest)]
            assigned = [replace(hand, side=side)]
        else:
            assigned = []
        for hand in assigned:
            last[hand.side] = (hand.keypoints_2d[0], t)
        out.append(sorted(assigned, key=lambda d: SIDES.index(d.side)))
    return out


def _distance(hand: HandDetection, wrist: np.ndarray) -> float:
    return float(np.linalg.norm(hand.keypoints_2d[0] - wrist))


def _one_per_side(frame: list[HandDetection]) -> list[HandDetection]:
    best: dict[str, HandDetection] = {}
    for det in frame:
        if det.side not in best or det.confidence > best[det.side].confidence:
            best[det.side] = det
    return [best[s] for s in SIDES if s in best]
