"""Decoded-frame cache: each episode's video decoded ONCE, sequentially, at the training image size.

Map-style sampling (the trainer's exact-resume path) asks for 6 scattered
frames per sample; decoding them from H.264 costs a seek and a forward decode
each time. The cache decodes every frame of an episode in one forward sweep
(the same decoder and resize as :meth:`Dataset.frames`, so pixels are
identical) into a uint8 ``.npy`` file of shape (T, H, W, 3), which samples
then read through a memory map: no decoding at all.

Layout: ``<dataset>/.cache/frames_<H>x<W>/episode_<index>-<key>.npy``
(or ``<XDG cache>/dexego/frames/<hash of the dataset path>/...`` when the
dataset folder is read-only, or ``<frame_cache_dir>/<hash>/...``). ``key``
hashes what identifies the episode's footage (its metadata row with the
per-episode image statistics, its numeric columns, the video feature, the
frame rate, and the compressed frames of its span of the video file), so
appended episodes get new files while existing ones are reused, and a
rewritten, truncated or re-encoded video is decoded again rather than read stale. Files are
written under a temporary name and renamed, so a killed build leaves no
half-written cache and concurrent builders (DDP ranks) only duplicate work.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from dexego.data import layout
from dexego.data.reader import Dataset
from dexego.data.video import packet_digest
from dexego.errors import ConfigError, InputError

FORMAT_VERSION = 2
CACHE_DIRNAME = ".cache"
MODES = ("auto", "on", "off")
_CHUNK_FRAMES = 256  # decoded and written per step of a build (bounds memory)


class FrameCache:
    """Memory-mapped decoded frames of some episodes of one dataset, at one image size."""

    def __init__(self, files: dict[int, Path], image_size: tuple[int, int]):
        self.files = dict(files)
        self.image_size = tuple(image_size)
        self._maps: dict[int, np.ndarray] = {}

    def __contains__(self, episode: int) -> bool:
        return episode in self.files

    @property
    def nbytes(self) -> int:
        return int(sum(path.stat().st_size for path in self.files.values()))

    def frames(self, episode: int, frame_indices) -> np.ndarray:
        """Frames (N, H, W, 3) uint8 at episode frame indices, as :meth:`Dataset.frames` returns them."""
        array = self._maps.get(episode)
        if array is None:
            path = self.files[episode]
            try:
                array = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise InputError(path, "frames", f"unreadable frame cache file (delete it to rebuild): {exc}") from exc
            self._maps[episode] = array
        return np.asarray(array[np.asarray(frame_indices, dtype=np.int64)])

    def __getstate__(self):
        # Worker processes map the files themselves instead of receiving copies of the frames.
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state


def frame_cache_dir(dataset_root: Path, image_size: tuple[int, int], base: str = "") -> Path:
    """Where the frames of ``dataset_root`` at ``image_size`` are cached (see the module docstring)."""
    leaf = f"frames_{image_size[0]}x{image_size[1]}"
    tag = hashlib.blake2b(str(Path(dataset_root).resolve()).encode(), digest_size=8).hexdigest()
    if base:
        return Path(base).expanduser() / tag / leaf
    inside = Path(dataset_root) / CACHE_DIRNAME
    if _writable(inside if inside.exists() else Path(dataset_root)):
        return inside / leaf
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user / "dexego" / "frames" / tag / leaf


def frame_cache_bytes(dataset: Dataset, episodes, image_size: tuple[int, int]) -> int:
    height, width = image_size
    return int(sum(int(dataset.episode_lengths[ep]) for ep in episodes)) * height * width * 3


def episodes_within(dataset: Dataset, episodes, image_size: tuple[int, int], budget_bytes: float) -> list[int]:
    """The episodes (in order) whose frames fit in ``budget_bytes`` together: the part of a dataset ``auto`` caches."""
    kept, used = [], 0
    for ep in episodes:
        size = frame_cache_bytes(dataset, [ep], image_size)
        if used + size <= budget_bytes:
            kept.append(int(ep))
            used += size
    return kept


def prepare_frame_cache(
    dataset: Dataset,
    episodes,
    mode: str = "auto",
    max_gib: float = 2.0,
    base_dir: str = "",
    progress: bool = True,
) -> FrameCache | None:
    """Build the missing cache files of ``episodes`` and return the cache, or None when not used.

    ``mode``: "off" never caches; "on" always does; "auto" caches the episodes whose frames fit in
    ``max_gib`` GiB together (all of them when they fit; and when they fit on the disk); samples of
    episodes left out decode video.
    ``dataset.image_size`` is the cached size. Datasets without video get None.
    """
    if mode not in MODES:
        raise ConfigError(f"frame_cache must be one of {', '.join(MODES)}, got {mode!r}")
    episodes = sorted({int(ep) for ep in episodes})
    if mode == "off" or not dataset.video_keys or not episodes:
        return None
    if dataset.image_size is None:
        raise ConfigError("the frame cache needs a dataset opened with an image_size")
    size = tuple(dataset.image_size)
    needed = frame_cache_bytes(dataset, episodes, size)
    if mode == "auto" and needed > max_gib * 2**30:
        kept = episodes_within(dataset, episodes, size, max_gib * 2**30)
        _say(progress, f"frame cache for {dataset.root}: {needed / 2**30:.2f} GiB of frames at {size[0]}x{size[1]} exceed "
                       f"frame_cache_max_gib = {max_gib:g}; {len(kept)} of {len(episodes)} episodes are cached, samples of "
                       "the others decode video")  # fmt: skip
        if not kept:
            return None
        episodes = kept
    directory = frame_cache_dir(dataset.root, size, base_dir)
    files = {ep: directory / f"episode_{ep:06d}-{episode_key(dataset, ep)}.npy" for ep in episodes}
    missing = [ep for ep in episodes if not files[ep].is_file()]
    if missing:
        todo = frame_cache_bytes(dataset, missing, size)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(directory).free
        except OSError as exc:
            if mode == "on":
                raise InputError(directory, "frame_cache", f"cannot create the cache folder: {exc}") from exc
            _say(progress, f"frame cache off: cannot create {directory}: {exc}")
            return None
        if todo > 0.9 * free:
            if mode == "on":
                raise InputError(
                    directory, "frame_cache", f"{todo / 2**30:.2f} GiB needed, {free / 2**30:.2f} GiB free"
                )
            _say(
                progress, f"frame cache off: {todo / 2**30:.2f} GiB needed in {directory}, {free / 2**30:.2f} GiB free"
            )
            return None
        _remove_leftovers(directory)
        _build(dataset, missing, files, directory, progress)
    return FrameCache(files, size)


def episode_key(dataset: Dataset, episode: int) -> str:
    """A short hash of what determines the episode's decoded frames at the dataset's image size."""
    digest = hashlib.blake2b(digest_size=8)
    video_feature = dataset.features.get(dataset.video_keys[0], {})
    header = {"format": FORMAT_VERSION, "size": list(dataset.image_size), "fps": dataset.fps,
              "video": video_feature, "row": dataset.episode_row(episode)}  # fmt: skip
    digest.update(json.dumps(header, sort_keys=True, default=_jsonable).encode())
    for name, column in sorted(dataset.episode_columns(episode).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(column).tobytes())
    # The footage itself: the compressed frames of the episode's span of its video file, so a video that
    # was truncated, re-encoded or replaced is never served from the cache (appending to the file keeps it).
    key = dataset.video_keys[0]
    path = dataset.video_path(episode, key)
    if not path.is_file():
        raise InputError(path, key, "missing video file")
    start = dataset.video_frame_indices(episode, [0], key)[0] / dataset.fps
    digest.update(
        packet_digest(
            path, start, start + int(dataset.episode_lengths[episode]) / dataset.fps, dataset.fps, key
        ).encode()
    )
    return digest.hexdigest()


def _build(dataset: Dataset, episodes: list[int], files: dict[int, Path], directory: Path, progress: bool) -> None:
    from dexego.utils.progress import progress_bar

    height, width = dataset.image_size
    total = int(sum(int(dataset.episode_lengths[ep]) for ep in episodes))
    start = time.perf_counter()
    bar = progress_bar(total, f"frame cache {height}x{width}", "frame", disable=not progress)
    try:
        for ep in episodes:
            length = int(dataset.episode_lengths[ep])
            tmp = layout.temp_path(files[ep])
            try:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(length, height, width, 3))
                for lo in range(0, length, _CHUNK_FRAMES):  # one forward sweep of the decoder
                    hi = min(length, lo + _CHUNK_FRAMES)
                    array[lo:hi] = dataset.frames(ep, np.arange(lo, hi))
                    bar.update(hi - lo)
                array.flush()
                del array
                for stale in directory.glob(f"episode_{ep:06d}-*.npy"):  # older versions of this episode
                    if stale != files[ep]:  # (a concurrent builder may have published this version already)
                        stale.unlink(missing_ok=True)
                layout.publish(tmp, files[ep])
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        bar.close()
    _say(progress, f"frame cache: {len(episodes)} episode(s), {total} frames, "
                   f"{total * height * width * 3 / 2**20:.1f} MiB in {directory} ({time.perf_counter() - start:.1f} s)")  # fmt: skip


def _remove_leftovers(directory: Path) -> None:
    """Temporary files of builds whose process is gone (killed mid-build)."""
    for path in directory.glob(f"*{layout.TMP_MARK}*"):
        pid = path.name.rsplit(layout.TMP_MARK, 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)
