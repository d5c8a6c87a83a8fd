"""H.264 mp4 through PyAV: encode an episode, append it to a multi-episode file, decode frames.

Frames of a file have pts = k / fps for the k-th frame of the file; episode
``from_timestamp`` values are multiples of 1/fps, so a frame index in a file
is ``round(seconds * fps)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dexego.errors import InputError

RESIZE_INTERPOLATION = "FAST_BILINEAR"  # swscale; ~8x cheaper than BILINEAR at training sizes


@dataclass(frozen=True)
class VideoCodecConfig:
    codec: str = "libx264"
    crf: int = 20
    preset: str = "veryfast"
    gop: int = 30  # frames between keyframes; every episode also starts on one


def encode_video(
    path: Path, frames: np.ndarray, fps: int | float, config: VideoCodecConfig = VideoCodecConfig()
) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as an H.264 mp4 (no B-frames, so pts == dts order).

    ``fps`` may be fractional (29.97 is stored as the rate 2997/100); height and width must be even (yuv420p).
    """
    height, width = frames.shape[1:3]
    rate = fps if isinstance(fps, int) else Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream(config.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(config.crf), "preset": config.preset, "bf": "0", "g": str(config.gop)}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def concat_videos(first: Path | None, first_frames: int, second: Path, out_path: Path, fps: int) -> None:
    """Remux (no re-encoding) the first ``first_frames`` frames of ``first`` then all of ``second``.

    Frames of ``first`` beyond ``first_frames`` (left by an interrupted commit) are dropped.
    """
    with av.open(str(out_path), "w", format="mp4") as out:
        offset_s = 0.0
        ostream = None
        if first is not None:
            with av.open(str(first)) as src:
                stream = src.streams.video[0]
                ostream = out.add_stream_from_template(stream)
                for packet in src.demux(stream):
                    if packet.dts is None or packet.pts is None:
                        continue
                    if round(float(packet.pts * stream.time_base) * fps) >= first_frames:
                        continue
                    packet.stream = ostream
                    out.mux(packet)
            offset_s = first_frames / fps
        with av.open(str(second)) as src:
            stream = src.streams.video[0]
            if ostream is None:
                ostream = out.add_stream_from_template(stream)
            offset = round(offset_s / stream.time_base)
            for packet in src.demux(stream):
                if packet.dts is None or packet.pts is None:
                    continue
                packet.pts += offset
                packet.dts += offset
                packet.stream = ostream
                out.mux(packet)


@dataclass(frozen=True)
class VideoProbe:
    frames: int
    width: int
    height: int
    codec: str


def probe_video(path: Path, fps: int, field: str) -> VideoProbe:
    """Count frames (from packets, without decoding) and read the size; InputError if unreadable."""
    try:
        with av.open(str(path)) as src:
            stream = src.streams.video[0]
            count = 0
            last = -1
            for packet in src.demux(stream):
                if packet.pts is None:
                    continue
                count += 1
                last = max(last, round(float(packet.pts * stream.time_base) * fps))
            ctx = stream.codec_context
            return VideoProbe(max(count, last + 1), ctx.width, ctx.height, ctx.name)
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise InputError(path, field, f"unreadable video: {exc}") from exc


def packet_digest(path: Path, start_s: float, end_s: float, fps: int, field: str) -> str:
    """A hash of the compressed frames between ``start_s`` and ``end_s`` (pts and bytes; no decoding).

    Changes whenever the footage of that span changes (a truncated, re-encoded or rewritten file),
    and stays when other episodes are appended to the file."""
    import hashlib

    digest = hashlib.blake2b(digest_size=8)
    first, last = round(start_s * fps), round(end_s * fps)
    count = 0
    try:
        with av.open(str(path)) as src:
            stream = src.streams.video[0]
            if first > 0:
                src.seek(int(start_s / stream.time_base), stream=stream, backward=True, any_frame=False)
            for packet in src.demux(stream):
                if packet.pts is None:
                    continue
                index = round(float(packet.pts * stream.time_base) * fps)
                if first <= index < last:
                    digest.update(f"{index}:{packet.size}:".encode())
                    digest.update(bytes(packet))
                    count += 1
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise InputError(path, field, f"unreadable video: {exc}") from exc
    digest.update(f"frames:{count}".encode())
    return digest.hexdigest()


def decode_all(path: Path, fps: int, field: str) -> int:
    """Decode every frame (the check ``dexego data validate`` runs); returns the count, InputError on corrupt data."""
    count = 0
    try:
        with av.open(str(path)) as src:
            stream = src.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in src.decode(stream):
                count += 1
    except (av.error.FFmpegError, IndexError, OSError, ValueError) as exc:
        raise InputError(path, field, f"corrupt video: decoding failed after {count} frame(s): {exc}") from exc
    return count


class VideoReader:
    """Decodes frames of one mp4, keeping the decoder open between calls.

    Requests for frames at or shortly after the current position decode
    forward; only a jump backwards or far ahead seeks (to the keyframe before
    the target). ``size`` = (height, width) resizes with swscale.
    """

    def __init__(self, path: Path, fps: int, field: str, size: tuple[int, int] | None = None, max_forward: int = 90,
                 expect_size: tuple[int, int] | None = None):  # fmt: skip
        self.path, self.fps, self.field, self.size, self.max_forward = Path(path), fps, field, size, max_forward
        self.expect_size = (
            tuple(expect_size) if expect_size is not None else None
        )  # (height, width) the metadata declares
        self._container = None
        self._iter = None
        self._next = 0  # index of the next frame the decoder will return
        self.seeks = 0
        self.decoded = 0

    def _open(self):
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
        except (av.error.FFmpegError, IndexError, OSError) as exc:
            raise InputError(self.path, self.field, f"unreadable video: {exc}") from exc
        ctx = self._stream.codec_context
        if self.expect_size is not None and (ctx.height, ctx.width) != self.expect_size:
            self.close()
            raise InputError(
                self.path,
                self.field,
                f"video is {ctx.width}x{ctx.height}, features say {self.expect_size[1]}x{self.expect_size[0]}",
            )
        self._iter = None
        self._next = 0

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._iter = None

    def _seek(self, index: int) -> None:
        if self._container is None:
            self._open()
        target = int(index / self.fps / self._stream.time_base)
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise InputError(self.path, self.field, f"cannot seek to frame {index}: {exc}") from exc
        self._iter = self._container.decode(self._stream)
        self._next = -1  # unknown until a frame arrives
        self.seeks += 1

    def _convert(self, frame) -> np.ndarray:
        if self.size is None:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(
            format="rgb24", width=self.size[1], height=self.size[0], interpolation=RESIZE_INTERPOLATION
        )

    def read(self, indices) -> np.ndarray:
        """Frames at the given file frame indices (any order, repeats allowed) -> (N, H, W, 3) uint8."""
        indices = [int(i) for i in indices]
        wanted = sorted(set(indices))
        got: dict[int, np.ndarray] = {}
        for index in wanted:
            if self._container is None:
                self._open()
                if index <= self.max_forward:  # near the start: decode from the beginning
                    self._iter = self._container.decode(self._stream)
            if self._iter is None or index < self._next or index > self._next + self.max_forward:
                self._seek(index)
            got[index] = self._decode_until(index)
        return np.stack([got[i] for i in indices])

    def _decode_until(self, index: int) -> np.ndarray:
        try:
            for frame in self._iter:
                self.decoded += 1
                current = round(float(frame.pts * self._stream.time_base) * self.fps)
                self._next = current + 1
                if current == index:
                    return self._convert(frame)
                if current > index:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(self.path, self.field, f"corrupt video data before frame {index}: {exc}") from exc
        self._iter = None
        raise InputError(
            self.path, self.field, f"video has no frame {index} (truncated or shorter than the metadata says)"
        )

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def read_frames_naive(path: Path, indices, fps: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Open, seek to the keyframe before each frame and decode up to it: the per-sample baseline."""
    out = []
    for index in indices:
        reader = VideoReader(path, fps, "video", size)
        reader._seek(int(index))
        out.append(reader._decode_until(int(index)))
        reader.close()
    return np.stack(out)


def remove_quietly(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
