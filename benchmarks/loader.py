"""Training-sample throughput of the dexego loader vs a naive per-sample seek-and-decode baseline.

Generates a synthetic dataset (H.264, 320x240, 30 fps), then measures in the same run:
  1. raw decode rate: one sequential pass over the video, frames resized to 224x224
     -> the decode limit in samples/s = decode fps / (fps / samples_per_second),
     since every sample consumes 1/samples_per_second s of footage;
  2. naive baseline: per sample, open the file, seek to the keyframe before each of
     the 6 frames and decode forward to it (what a map-style loader without decoder
     reuse does), plus the same 30-step chunk construction;
  3. dexego SampleStream (block-sequential decoding, shuffle buffer), single process,
     and through a DataLoader with 2 worker processes.
Usage: python benchmarks/loader.py [--episodes 6] [--seconds 15] [--naive-samples 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from dexego.data import DatasetWriter, LoaderConfig, MixtureEntry, SampleConfig, make_loader
from dexego.data.loader import SampleStream, open_sources
from dexego.data.samples import build_sample, history_frames
from dexego.data.synthetic import synthetic_episode
from dexego.data.video import RESIZE_INTERPOLATION, read_frames_naive

SIZE = (224, 224)


def make_dataset(root: Path, episodes: int, seconds: float) -> None:
    with DatasetWriter(root) as writer:
        for i in range(episodes):
            ep = synthetic_episode(int(seconds * 30), size=(240, 320), seed=i)
            writer.add_episode(ep)


def raw_decode_fps(root: Path) -> float:
    path = next((root / "videos").rglob("*.mp4"))
    start = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24", width=SIZE[1], height=SIZE[0], interpolation=RESIZE_INTERPOLATION)
            count += 1
    return count / (time.perf_counter() - start)


def naive_rate(source, samples: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    items = [(ep, int(a)) for ep, anchors in source.anchors.items() for a in anchors]
    picks = [items[i] for i in rng.choice(len(items), size=samples)]
    ds = source.dataset
    start = time.perf_counter()
    for ep, anchor in picks:
        columns = ds.episode_columns(ep)
        indices, _ = history_frames(anchor, source.fps, source.config)
        file_indices = ds.video_frame_indices(ep, indices)
        frames = read_frames_naive(ds.video_path(ep), file_indices, ds.fps, SIZE)
        build_sample(columns, frames, anchor, source.fps, source.config, source.stored_size, source._episode_meta(ep), "", "bench")
    return samples / (time.perf_counter() - start)


def stream_rate(config: LoaderConfig) -> tuple[float, int]:
    sources, weights = open_sources(config, "all")
    stream = SampleStream(sources, weights, config)
    start = time.perf_counter()
    count = sum(1 for _ in stream)
    return count / (time.perf_counter() - start), count


def loader_rate(config: LoaderConfig) -> tuple[float, int]:
    start = time.perf_counter()
    count = sum(len(batch["frame_index"]) for batch in make_loader(config, split="all"))
    return count / (time.perf_counter() - start), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--naive-samples", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        t = time.perf_counter()
        make_dataset(root, args.episodes, args.seconds)
        print(f"dataset: {args.episodes} episodes x {args.seconds:.0f} s, 320x240 H.264 ({time.perf_counter() - t:.1f} s to write)")
        sample_cfg = SampleConfig(image_size=SIZE)
        config = LoaderConfig(datasets=(MixtureEntry(str(root)),), sample=sample_cfg, val_fraction=0.0, batch_size=16, num_workers=2)
        frames_per_sample = 30 / sample_cfg.samples_per_second

        decode_fps = raw_decode_fps(root)
        limit = decode_fps / frames_per_sample
        sources, _ = open_sources(config, "all")
        sources[0].samples(0, [0, 10])  # warm-up: one-time imports are not part of any rate
        naive = naive_rate(sources[0], args.naive_samples)
        ours, n = stream_rate(config)
        workers, n2 = loader_rate(config)
        print(f"raw sequential decode (resize to 224x224): {decode_fps:8.1f} frames/s -> decode limit {limit:6.1f} samples/s")
        print(f"naive seek-and-decode per sample:          {naive:8.1f} samples/s  ({args.naive_samples} samples)")
        print(f"dexego SampleStream, 1 process:            {ours:8.1f} samples/s  ({n} samples)"
              f"  = {ours / naive:.1f}x naive, {100 * ours / limit:.0f}% of decode limit")  # fmt: skip
        print(f"dexego DataLoader, 2 workers, batch 16:    {workers:8.1f} samples/s  ({n2} samples)"
              f"  = {workers / naive:.1f}x naive, {100 * workers / limit:.0f}% of the 1-process decode limit")  # fmt: skip
        print("sample = 6 frames at 224x224 + a 30-step ego48 chunk in the current camera frame")


if __name__ == "__main__":
    main()
