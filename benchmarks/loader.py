"""Training-sample throughput of the dexego loader vs a naive per-sample seek-and-decode baseline.

Generates a synthetic dataset (H.264, 320x240, 30 fps), then measures in the same run:
  1. raw decode rate: one sequential pass over the video, frames resized to 224x224
     -> the decode limit in samples/s = decode fps / (fps / samples_per_second),
     since every sample consumes 1/samples_per_second s of footage;
  2. naive baseline: per sample, open the file, seek to the keyframe before each of
     the 6 frames and decode forward to it (what a map-style loader without decoder
     reuse does), plus the same 30-step chunk construction;
  3. dexego SampleStream (block-sequential decoding, shuffle buffer), single process,
     and through a DataLoader with 2 worker processes;
  4. the trainer's data path (SampleDataset + MixtureSampler + DataLoader, batch 8, as dexego.train
     wires it) at 64x64 and 224x224 with 0 and 2 workers: per-sample video decoding (frame cache off,
     the baseline) against the decoded-frame cache, plus the cache's build time and size.
Usage: python benchmarks/loader.py [--episodes 6] [--seconds 15] [--naive-samples 40] [--trainer-batches 12]
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
        build_sample(
            columns,
            frames,
            anchor,
            source.fps,
            source.config,
            source.stored_size,
            source._episode_meta(ep),
            "",
            "bench",
        )
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


def trainer_path_rate(root: Path, size: tuple[int, int], workers: int, batches: int, cache: str) -> float:
    """Samples/s of the trainer's map-style path (the composition of dexego.train.build and Trainer)."""
    import torch

    from dexego.data import SampleDataset, SampleSource
    from dexego.data.mixtures import MixtureSampler

    source = SampleSource(root, SampleConfig(image_size=size, frame_cache=cache))
    source.prepare_frame_cache(progress=False)
    dataset = SampleDataset([source])
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, sampler=MixtureSampler([len(dataset)]), drop_last=True,
                                         num_workers=workers, generator=torch.Generator().manual_seed(0))  # fmt: skip
    count, start = 0, None
    for i, batch in enumerate(loader):
        if i == 1:  # the first batch pays worker start-up and one-time imports
            start, count = time.perf_counter(), 0
        count += len(batch["frame_index"])
        if i >= batches:
            break
    return count / (time.perf_counter() - start)


def frame_cache_build(root: Path, size: tuple[int, int]) -> tuple[float, int]:
    """(seconds, bytes) to build the frame cache of every episode at ``size`` from scratch."""
    import shutil

    from dexego.data import Dataset
    from dexego.data.frame_cache import frame_cache_dir, prepare_frame_cache

    shutil.rmtree(frame_cache_dir(root, size), ignore_errors=True)
    dataset = Dataset(root, image_size=size)
    start = time.perf_counter()
    cache = prepare_frame_cache(dataset, range(dataset.num_episodes), mode="on", progress=False)
    return time.perf_counter() - start, cache.nbytes


def trainer_path_report(root: Path, batches: int) -> None:
    print(f"trainer data path (SampleDataset + MixtureSampler + DataLoader, batch 8, {batches} timed batches):")
    print(f"{'size':>8} {'workers':>8} {'decode/sample':>14} {'frame cache':>12} {'speed-up':>9}")
    for size in ((64, 64), (224, 224)):
        seconds, nbytes = frame_cache_build(root, size)
        for workers in (0, 2):
            before = trainer_path_rate(root, size, workers, batches, cache="off")
            after = trainer_path_rate(root, size, workers, batches, cache="on")
            print(f"{size[0]:>4}x{size[1]:<3} {workers:>8} {before:>12.1f}/s {after:>10.1f}/s {after / before:>8.1f}x")
        print(f"  frame cache at {size[0]}x{size[1]}: built in {seconds:.1f} s, {nbytes / 2**20:.1f} MiB on disk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--naive-samples", type=int, default=40)
    parser.add_argument("--trainer-batches", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        t = time.perf_counter()
        make_dataset(root, args.episodes, args.seconds)
        print(
            f"dataset: {args.episodes} episodes x {args.seconds:.0f} s, 320x240 H.264 ({time.perf_counter() - t:.1f} s to write)"
        )
        sample_cfg = SampleConfig(image_size=SIZE)
        config = LoaderConfig(
            datasets=(MixtureEntry(str(root)),), sample=sample_cfg, val_fraction=0.0, batch_size=16, num_workers=2
        )
        frames_per_sample = 30 / sample_cfg.samples_per_second

        decode_fps = raw_decode_fps(root)
        limit = decode_fps / frames_per_sample
        sources, _ = open_sources(config, "all")
        sources[0].samples(0, [0, 10])  # warm-up: one-time imports are not part of any rate
        naive = naive_rate(sources[0], args.naive_samples)
        ours, n = stream_rate(config)
        workers, n2 = loader_rate(config)
        print(
            f"raw sequential decode (resize to 224x224): {decode_fps:8.1f} frames/s -> decode limit {limit:6.1f} samples/s"
        )
        print(f"naive seek-and-decode per sample:          {naive:8.1f} samples/s  ({args.naive_samples} samples)")
        print(f"dexego SampleStream, 1 process:            {ours:8.1f} samples/s  ({n} samples)"
              f"  = {ours / naive:.1f}x naive, {100 * ours / limit:.0f}% of decode limit")  # fmt: skip
        print(f"dexego DataLoader, 2 workers, batch 16:    {workers:8.1f} samples/s  ({n2} samples)"
              f"  = {workers / naive:.1f}x naive, {100 * workers / limit:.0f}% of the 1-process decode limit")  # fmt: skip
        print("sample = 6 frames at 224x224 + a 30-step ego48 chunk in the current camera frame")
        trainer_path_report(root, args.trainer_batches)


if __name__ == "__main__":
    main()
