"""Decode the external datasets' videos and image files into uint8 RGB arrays (PyAV, Pillow)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
from PIL import Image

from dexego.errors import InputError


def read_video(path: Path, max_frames: int | None = None) -> np.ndarray:
    """All frames (or the first ``max_frames``) of a video as (T, H, W, 3) uint8 RGB."""
    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if not frames:
            raise InputError(path, None, f"unreadable video: {exc}") from None
        # A truncated file: keep the frames decoded before the damage.
    if not frames:
        raise InputError(path, None, "video has no frames")
    return np.stack(frames)


def read_image(data: bytes | Path, where: str | Path) -> np.ndarray:
    """One JPEG/PNG (path or bytes) as (H, W, 3) uint8 RGB (grey images are replicated)."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InputError(where, None, f"unreadable image: {exc}") from None


def read_images(paths: Iterable[Path]) -> np.ndarray:
    images = [read_image(p, p) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise InputError(None, "images", f"images of one sequence differ in size: {sorted(shapes)}")
    return np.stack(images)
