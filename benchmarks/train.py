"""Training throughput (samples/s) on this CPU: dexego's trainer vs a plain torch loop, per action head.

For each head (regression, flow, tokens with a small FAST tokenizer) on the built-in tiny backbone
(default config: 96x96 frames, 6 observation frames, a 30-step ego48 chunk), the same model and the same
in-memory samples go through
  1. baseline: a plain torch loop (forward, backward, AdamW step; no Accelerate, no logging);
  2. dexego: ``dexego.train.Trainer`` (Accelerate, DataLoader + collate, finite-loss checks, LR schedule,
     gradient clipping, metrics log); measured over its logged steady-state windows, so the one-off
     setup and final checkpoint are reported apart.
With --with-data it also trains the regression head from a synthetic on-disk dataset through
dexego.data, decoding video per sample (frame cache off, the baseline) and then reading the
decoded-frame cache, which shows what the loader costs on this machine.
With --data-path it measures the trainer's data path alone (the DataLoader dexego.train.Trainer builds over
dexego.train.build.build_stage_data, batch --batch, 0 workers, no model) on a synthetic H.264 dataset, at 64x64 and
224x224 samples, in three settings of the decoded-frame cache:
  within the limit       every episode cached (unchanged by the partial cache);
  beyond, before         the frames exceed data.sample.frame_cache_max_gib (set here to half of them): earlier
                         versions turned the cache off, so every sample decoded video (the baseline);
  beyond, after          the episodes that fit in the limit are cached and only the others decode video.
Usage: python benchmarks/train.py [--steps 12] [--batch 8] [--heads regression,flow,tokens] [--with-data]
                                  [--data-path [--data-episodes 8] [--data-seconds 10] [--data-batches 12]]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dexego.models import Policy, PolicyConfig
from dexego.train import StageData, Trainer, load_stage_config, seed_everything


def make_samples(count: int, config: PolicyConfig, image_size: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, config.horizon)[:, None]
    samples = []
    for _ in range(count):
        base = rng.normal(scale=0.1, size=config.action_dim)
        actions = (base + 0.05 * np.sin(2 * np.pi * t + rng.uniform(0, 6, config.action_dim))).astype(np.float32)
        samples.append(
            {
                "images": torch.from_numpy(
                    rng.integers(0, 256, (config.n_obs_frames, 3, image_size, image_size), dtype=np.uint8)
                ),
                "image_mask": torch.ones(config.n_obs_frames, dtype=torch.bool),
                "instruction": "pick up the red cube",
                "state": torch.from_numpy(base.astype(np.float32)),
                "state_valid": torch.ones(2, dtype=torch.bool),
                "actions": torch.from_numpy(actions),
                "action_valid": torch.ones(config.horizon, 2, dtype=torch.bool),
                "fov": torch.tensor([1.2, 1.0]),
                "intrinsics": torch.tensor([100.0, 100.0, 48.0, 48.0]),
                "embodiment": "human",
                "source": "bench",
                "episode_index": torch.tensor(0),
                "frame_index": torch.tensor(0),
            }
        )
    return samples


def make_policy(head: str, samples: list[dict]) -> Policy:
    config = PolicyConfig(head=head)
    tokenizer = None
    if head == "tokens":
        from dexego.tokenizers import fit_tokenizer

        chunks = np.stack([s["actions"].numpy() for s in samples]).astype(np.float64)
        tokenizer = fit_tokenizer("fast", chunks, {"vocab_size": 256})
    return Policy(config, None, tokenizer)


def plain_loop(policy: Policy, samples: list[dict], batch: int, steps: int, warmup: int = 2) -> float:
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)
    collate = torch.utils.data.default_collate
    batches = [collate(samples[(i * batch) % len(samples) :][:batch]) for i in range(steps + warmup)]
    policy.train()
    for i, b in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        loss, _ = policy(b)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batch / (time.perf_counter() - start)


def trainer_loop(policy: Policy, data: StageData, batch: int, steps: int, out: Path, **extra) -> tuple[float, float]:
    """(steady-state samples/s from the logged windows after the first, wall-clock samples/s of the whole fit)."""
    config = load_stage_config(
        {
            "name": "bench",
            "output_dir": str(out),
            "seed": 0,
            "loop": {
                "max_steps": steps,
                "batch_size": batch,
                "log_every": 2,
                "checkpoint_every": 10**9,
                "progress": False,
            },
            "optimizer": {"lr": 1e-4},
            "schedule": {"kind": "constant"},
            **extra,
        }
    )
    start = time.perf_counter()
    Trainer(config, policy, data).fit()
    wall = steps * batch / (time.perf_counter() - start)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    windows = [r["samples_per_s"] for r in records if r["split"] == "train"][1:]
    return float(np.mean(windows)) if windows else wall, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", default="regression,flow,tokens")
    parser.add_argument("--with-data", action="store_true")
    parser.add_argument("--data-path", action="store_true", help="only the trainer's data path (see the module doc)")
    parser.add_argument("--data-episodes", type=int, default=8)
    parser.add_argument("--data-seconds", type=float, default=10.0)
    parser.add_argument("--data-batches", type=int, default=12)
    args = parser.parse_args()
    if args.data_path:
        with tempfile.TemporaryDirectory() as tmp:
            data_path_throughput(Path(tmp), args)
        return
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch}, {args.steps} timed steps")
    print(f"{'head':<11} {'params':>8} {'plain loop':>12} {'dexego':>10} {'ratio':>6} {'dexego wall':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for head in args.heads.split(","):
            samples = make_samples(4 * args.batch, PolicyConfig(head=head), image_size=96)
            seed_everything(0)
            policy = make_policy(head, samples)
            params = sum(p.numel() for p in policy.parameters()) / 1e6
            baseline = plain_loop(policy, samples, args.batch, args.steps)
            seed_everything(0)
            policy = make_policy(head, samples)
            steady, wall = trainer_loop(policy, StageData([samples]), args.batch, args.steps + 2, tmp / head)
            print(
                f"{head:<11} {params:>7.2f}M {baseline:>10.2f}/s {steady:>8.2f}/s {steady / baseline:>6.2f} {wall:>10.2f}/s"
            )
        if args.with_data:
            data_throughput(tmp, args)
    print("samples/s = training samples (6 frames + 30-step chunk) per second; ratio = dexego / plain loop;")
    print("'dexego wall' includes setup and the final checkpoint and export.")


def data_throughput(tmp: Path, args) -> None:
    import dataclasses

    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode
    from dexego.train.build import run_stage

    with DatasetWriter(tmp / "data") as writer:
        for i in range(6):
            writer.add_episode(dataclasses.replace(synthetic_episode(150, size=(128, 128), seed=i), embodiment="human"))
    for cache in ("off", "on"):  # per-sample video decoding (baseline) vs the decoded-frame cache
        out = tmp / f"with-data-{cache}"
        config = load_stage_config({
            "name": "bench-data", "output_dir": str(out),
            "data": {"sources": [{"path": str(tmp / "data")}], "val_fraction": 0.0,
                     "sample": {"image_size": [96, 96], "frame_cache": cache}},
            "loop": {"max_steps": args.steps, "batch_size": args.batch, "log_every": 2, "checkpoint_every": 10**9, "progress": False},
        })  # fmt: skip
        start = time.perf_counter()
        run_stage(config)  # includes building the cache when on
        wall = args.steps * args.batch / (time.perf_counter() - start)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        windows = [r["samples_per_s"] for r in records if r["split"] == "train"][1:]
        print(
            f"regression + dexego.data map-style loader (H.264 128x128, 0 workers), frame cache {cache:>3}: "
            f"{np.mean(windows):.2f}/s steady, {wall:.2f}/s wall (setup and cache build included)"
        )


def data_path_throughput(tmp: Path, args) -> None:
    import dataclasses

    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode
    from dexego.train.build import build_stage_data

    torch.set_num_threads(1)
    with DatasetWriter(tmp / "data") as writer:
        for i in range(args.data_episodes):
            episode = synthetic_episode(int(args.data_seconds * 30), size=(240, 320), seed=i)
            writer.add_episode(dataclasses.replace(episode, embodiment="human"))
    frames = args.data_episodes * int(args.data_seconds * 30)
    print(
        f"trainer data path: {args.data_episodes} episodes x {args.data_seconds:g} s (H.264 320x240, 30 fps), "
        f"batch {args.batch}, 0 workers, {args.data_batches} batches timed; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'size':>7} {'frame cache':<36} {'cached':>9} {'setup s':>8} {'samples/s':>10}")
    for size in (64, 224):
        half = frames * size * size * 3 / 2 / 2**30
        settings = [("within the limit (all cached)", "auto", 2.0),
                    ("beyond the limit, before (off)", "off", half),
                    ("beyond the limit, after (partial)", "auto", half)]  # fmt: skip
        rates = {}
        for name, mode, limit in settings:
            config = load_stage_config({
                "name": "bench-data", "output_dir": str(tmp / f"run-{size}-{mode}-{limit:g}"), "seed": 0,
                "model": {"tiny": {"image_size": size}},
                "data": {"sources": [{"path": str(tmp / "data")}], "val_fraction": 0.0,
                         "sample": {"frame_cache": mode, "frame_cache_max_gib": limit,
                                    "frame_cache_dir": str(tmp / f"cache-{size}-{mode}-{limit:g}")}},
                "loop": {"max_steps": 10**6, "batch_size": args.batch, "progress": False},
            })  # fmt: skip
            start = time.perf_counter()
            data = build_stage_data(config)  # opens the dataset and builds the frame cache
            trainer = Trainer(config, torch.nn.Linear(1, 1), data)
            trainer._setup()  # the trainer's own DataLoader (sampler, collate, workers)
            setup = time.perf_counter() - start
            cache = data.train_sources[0].sources[0].frame_cache
            cached = 0 if cache is None else len(cache.files)
            batches = iter(trainer.loader)
            next(batches)  # decoders open, caches mapped
            start = time.perf_counter()
            for _ in range(args.data_batches):
                next(batches)
            rates[name] = args.data_batches * args.batch / (time.perf_counter() - start)
            print(
                f"{size:>4}x{size:<3} {name:<36} {cached:>4}/{args.data_episodes:<4} {setup:>8.1f} {rates[name]:>10.1f}"
            )
        before, after = rates["beyond the limit, before (off)"], rates["beyond the limit, after (partial)"]
        print(f"{'':>7} beyond the limit: after / before = {after / before:.2f}x")


if __name__ == "__main__":
    main()
