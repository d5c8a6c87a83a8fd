"""The predicted path on simulator rollout frames: each queried ego48 chunk drawn until the next query.

:class:`ChunkTap` sits between :class:`dexego.serve.ChunkedPolicy` and its
chunk source and keeps the latest raw chunk (before temporal ensembling).
:class:`RolloutOverlay` draws that chunk's wrist and fingertip paths, in the
camera frame of the (torso-fixed) ego camera, into an observed frame.

Drawing happens in place on the observation's ``image``: the rollout
recorder (:func:`dexego.sim.evaluation.run_rollout`) keeps each observation's
image array and then hands the observation to the policy, so the drawing
ends up in the video. The policy's observation history has already copied
the frame by then, so the model never sees the drawing and the actions do
not change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dexego.actions import get_space
from dexego.drawing.overlay import OverlayStyle, chunk_trajectories, draw_trajectories, style_for_frame
from dexego.geometry import Intrinsics
from dexego.retarget.commands import MIN_ROT6D_NORM


class ChunkTap:
    """A chunk source that forwards to ``source`` and remembers the latest chunk it returned."""

    def __init__(self, source: Any):
        self.source = source
        self.latest: np.ndarray | None = None
        self.queries = 0

    def predict_action_chunk(self, observation: dict) -> Any:
        chunk = self.source.predict_action_chunk(observation)
        value = chunk.detach().cpu().numpy() if hasattr(chunk, "detach") else chunk
        value = np.array(value, dtype=np.float64)
        self.latest = value[0] if value.ndim == 3 and value.shape[0] == 1 else value
        self.queries += 1
        return chunk

    def __getattr__(self, name: str) -> Any:  # metadata, close, ... of the wrapped source
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)


def predicted_hand_valid(chunk: np.ndarray, space: str = "ego48") -> np.ndarray:
    """(H, 2): steps where a hand's prediction is finite with a non-degenerate wrist rotation (zeros = no hand)."""
    space_ = get_space(space)
    valid = np.zeros((chunk.shape[0], 2), dtype=bool)
    for hand in range(2):
        part = chunk[:, space_.hand_slice(hand)]
        rot6d = chunk[:, space_.part_slice("wrist_rot6d", hand)]
        norms = np.minimum(np.linalg.norm(rot6d[:, :3], axis=-1), np.linalg.norm(rot6d[:, 3:], axis=-1))
        valid[:, hand] = np.isfinite(part).all(-1) & (norms > MIN_ROT6D_NORM)
    return valid


class RolloutOverlay:
    """Draws the latest predicted chunk into frames of the camera with ``intrinsics`` (any frame size)."""

    def __init__(self, intrinsics: Intrinsics, space: str = "ego48", style: OverlayStyle | None = None):
        self.intrinsics = intrinsics
        self.space = space
        self.style = OverlayStyle() if style is None else style
        self.reset()

    def reset(self) -> None:
        self._key: tuple | None = None
        self._mask = np.zeros((0, 0), dtype=bool)
        self._colors = np.zeros((0, 3), dtype=np.uint8)

    def draw(self, image: np.ndarray, chunk: np.ndarray | None, query: int) -> None:
        """Draw ``chunk`` (the ``query``-th of the episode) into ``image`` (H, W, 3) uint8, in place."""
        if chunk is None or not isinstance(image, np.ndarray) or not image.flags.writeable:
            return
        height, width = image.shape[:2]
        key = (query, height, width)
        if key != self._key:
            self._mask, self._colors = self._layer(chunk, height, width)
            self._key = key
        image[self._mask] = self._colors

    def _layer(self, chunk: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The pixels the chunk covers and their colours, rasterised once per query (the camera is fixed).

        Drawn on a canvas of a colour the style does not use: the pixels that changed are the drawn ones
        (no anti-aliasing, so a drawn pixel has exactly its colour).
        """
        style = style_for_frame(height, width, self.style)
        trajectories = chunk_trajectories(
            chunk, predicted_hand_valid(chunk, self.space), "predicted", self.space, style
        )
        legend = {"predicted": style.predicted_wrist} if style.legend else None
        used = {t.color for t in trajectories} | {(255, 255, 255), style.predicted_wrist}
        background = next(c for c in ((1, 2, 3), (3, 2, 1), (2, 3, 1)) if c not in used)
        canvas = np.empty((height, width, 3), np.uint8)
        canvas[...] = background
        drawn = draw_trajectories(canvas, trajectories, self.intrinsics.scaled(width, height), legend)
        mask = (drawn != np.asarray(background, np.uint8)).any(-1)
        return mask, drawn[mask]
