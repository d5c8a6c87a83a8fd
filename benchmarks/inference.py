"""Per-chunk latency and training-step time of each action head, optimized path against the reference path.

Built-in tiny backbone at its default config, 224 px frames, 6 history
frames, batch 1 at inference. Each query slides one frame along a synthetic
video (so history frames repeat across queries, as in a rollout). Named
baseline, measured in the same run and interleaved with the current figures
(so machine load hits both alike): the reference path
(``policy.optimized = False``: the plain computation the optimized one must
match up to float rounding). For the token heads, a second named baseline:
``old generate``, the optimized path with the head's original decoding loop
(tests/models/helpers_token_reference.py: key/value cache grown by
concatenation, mask rebuilt every step, no early stop), with the codes per
chunk and the time per code of both loops. Also shown: the optimized path with the opt-in
frame feature cache (``policy.set_frame_cache``), and the backbone alone as
the head uses it (the floor every head pays). Targets (issue 7, default
path, no cache): regression <= 20 ms per chunk, flow (10 steps) <= 60 ms.
With --hf, also a ~250M-parameter random SmolVLM-like (Idefics3) backbone
built from a config (no download) with the regression head.

The machine may be shared: the load average before and after each block and
the process niceness are printed; figures are medians over --repeats. Beside
wall-clock latency, the process CPU time per chunk is shown: at 1 thread it
estimates the latency on an idle core (contention still inflates it a
little), at 2 threads it sums both threads. Targets are judged on wall-clock
time; the CPU-time verdict is printed beside it at 1 thread.

    python benchmarks/inference.py [--repeats 20] [--threads 1,2] [--hf] [--device cpu|cuda] [--skip-train]
                                   [--only tokens]
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
from helpers_models import action_stats, synthetic_batch, synthetic_chunks  # noqa: E402
from helpers_token_reference import reference_generate  # noqa: E402

from dexego.config import load_config  # noqa: E402
from dexego.models import Policy, PolicyConfig  # noqa: E402
from dexego.models.observation import prepare  # noqa: E402
from dexego.tokenizers import fit_tokenizer  # noqa: E402

TARGETS = {"regression": 20.0, "flow (10 steps, CFG 5)": 60.0}
FRAMES = 6
SIZE = 224


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class Clock:
    """Interleaved timing: each round runs every variant once, in turn; medians per variant."""

    def __init__(self, device: str):
        self.device = device
        self.samples: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def run(self, name: str, fn) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.samples.setdefault(name, []).append(time.perf_counter() - start)
        self.cpu.setdefault(name, []).append(time.process_time() - cpu)

    def median_ms(self, name: str) -> float:
        return statistics.median(self.samples[name]) * 1000 if name in self.samples else float("nan")

    def median_cpu_ms(self, name: str) -> float:
        """CPU time of this process (all its threads): at 1 thread, about the latency on an idle core."""
        return statistics.median(self.cpu[name]) * 1000 if name in self.cpu else float("nan")


def observations(count: int, seed: int = 0) -> list[dict]:
    """``count`` consecutive observations: a window of FRAMES frames sliding one frame along a random video."""
    video = np.random.default_rng(seed).integers(0, 256, (count + FRAMES, 3, SIZE, SIZE), dtype=np.uint8)
    base = {k: v[0] for k, v in synthetic_batch(batch=1, size=8).items()
            if k not in ("actions", "action_valid", "images", "image_mask")}  # fmt: skip
    return [dict(base, images=video[i : i + FRAMES], image_mask=np.ones(FRAMES, dtype=bool)) for i in range(count)]


def measure(policy: Policy, batch: dict, repeats: int, device: str, train: bool) -> dict[str, float]:
    policy.to(device).eval()
    cached = None
    if hasattr(policy.backbone, "frame_cache"):  # the tiny backbone only
        cached = copy.deepcopy(policy)
        cached.set_frame_cache(2 * FRAMES)
    reads_tokens = getattr(policy.head, "reads_backbone_tokens", True)
    obs = observations(repeats + 2)

    def backbone_only(o):
        with torch.inference_mode():
            data, _ = prepare(o, policy.space.dim, policy.config.n_obs_frames, policy.device, with_actions=False)
            policy.backbone(data["images"], data["image_mask"], data["instruction"], pooled_only=not reads_tokens)

    def predict(p, o, optimized):
        p.optimized = optimized
        p.predict_action_chunk(o, seed=0)

    def predict_old_generate(o):
        policy.head.generate = functools.partial(reference_generate, policy.head)  # shadows the method
        try:
            predict(policy, o, True)
        finally:
            del policy.head.generate

    token_head = policy.config.head == "tokens"

    clock = Clock(device)
    for i, o in enumerate(obs):
        target = clock if i >= 2 else Clock(device)  # the first two rounds warm up
        target.run("reference", lambda: predict(policy, o, False))
        target.run("optimized", lambda: predict(policy, o, True))
        if token_head:
            target.run("old generate", lambda: predict_old_generate(o))
        if cached is not None:
            target.run("cache", lambda: predict(cached, o, True))
        target.run("backbone", lambda: backbone_only(o))
    policy.optimized = True
    result = {k: clock.median_ms(k) for k in ("reference", "optimized", "cache", "backbone", "old generate")}
    result.update({f"{k} cpu": clock.median_cpu_ms(k) for k in ("reference", "optimized", "cache", "old generate")})
    if token_head:
        result.update(code_counts(policy, obs[2:]))
    if train:
        result.update(train_steps(policy, batch, max(3, repeats // 4), device))
    return result


def code_counts(policy: Policy, obs: list[dict]) -> dict[str, float]:
    """Median codes per chunk of the current and the original decoding loop (same seed as the timed runs)."""
    counts = {"codes": [], "old codes": []}
    with torch.inference_mode():
        for o in obs:
            data, _ = prepare(o, policy.space.dim, policy.config.n_obs_frames, policy.device, with_actions=False)
            inputs = policy._head_inputs(data)
            for key, generate in (
                ("codes", policy.head.generate),
                ("old codes", functools.partial(reference_generate, policy.head)),
            ):
                counts[key].append(len(generate(inputs, torch.Generator(device=policy.device).manual_seed(0))[0]))
    return {k: float(statistics.median(v)) for k, v in counts.items()}


def train_steps(policy: Policy, batch: dict, repeats: int, device: str) -> dict[str, float]:
    optimiser = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)
    policy.train()

    def step(optimized):
        policy.optimized = optimized
        loss, _ = policy(batch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    clock = Clock(device)
    for i in range(repeats + 1):
        target = clock if i else Clock(device)
        target.run("train reference", lambda: step(False))
        target.run("train optimized", lambda: step(True))
    policy.optimized = True
    policy.eval()
    return {k: clock.median_ms(k) for k in ("train reference", "train optimized")}


def head_policies(stats: dict, tokenizers: dict):
    for name, head, extra, tokenizer in [
        ("regression", "regression", {}, None),
        ("flow (10 steps, CFG 5)", "flow", {"num_steps": 10, "cfg_scale": 5.0}, None),
        ("flow (10 steps, no CFG)", "flow", {"num_steps": 10, "cfg_scale": 1.0}, None),
        ("regression, option history_pool=2", "regression", {"history_pool": 2}, None),
        (
            "flow (10 steps, CFG 5), history_pool=2",
            "flow",
            {"num_steps": 10, "cfg_scale": 5.0, "history_pool": 2},
            None,
        ),
        ("tokens (RVQ, 20 codes)", "tokens", {}, tokenizers["rvq"]),
        (f"tokens (FAST, <= {tokenizers['fast'].max_tokens} codes)", "tokens", {}, tokenizers["fast"]),
    ]:
        torch.manual_seed(0)
        tiny = {"history_pool": extra.pop("history_pool")} if "history_pool" in extra else {}
        yield name, Policy(load_config(PolicyConfig, {"head": head, head: extra, "tiny": tiny}), stats, tokenizer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8, help="training batch size")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts to measure")
    parser.add_argument("--hf", action="store_true", help="also a ~250M-parameter random Idefics3 backbone")
    parser.add_argument("--skip-train", action="store_true", help="inference figures only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", default="", help="measure only the rows whose name contains this text (e.g. tokens)")
    args = parser.parse_args()
    threads = [int(x) for x in args.threads.split(",") if x.strip()]
    print(f"device {args.device}, cpus {os.cpu_count()}, niceness {os.nice(0)}, torch {torch.__version__}, "
          f"{FRAMES} frames of {SIZE} px, inference batch 1, training batch {args.batch}, medians of {args.repeats}")  # fmt: skip
    batch = synthetic_batch(batch=args.batch, size=SIZE, seed=0)
    chunks = synthetic_chunks(1000, seed=1)
    stats = action_stats(chunks)
    normalised = ((chunks - stats["mean"]) / stats["std"]).astype(np.float32)
    tokenizers = {
        "rvq": fit_tokenizer("rvq", normalised, {"train_steps": 300}),
        "fast": fit_tokenizer("fast", normalised),
    }
    policies = list(head_policies(stats, tokenizers))
    if args.hf:
        policies.append(hf_policy(stats))
    policies = [(name, policy) for name, policy in policies if args.only in name]
    verdicts = []
    for n in threads:
        torch.set_num_threads(n)
        before = load_average()
        rows = []
        for name, policy in policies:
            params = sum(p.numel() for p in policy.parameters()) / 1e6
            hf = policy.config.backbone == "hf"
            use = {k: (v[:2] if hf else v) for k, v in batch.items()}
            slow = (
                hf or policy.config.head == "tokens"
            )  # FAST: up to max_tokens generation steps per chunk (not the decode)
            repeats = max(3, args.repeats // 4) if slow else args.repeats
            rows.append((name, params, measure(policy, use, repeats, args.device, not args.skip_train)))
        print(f"\ntorch threads {n}; load average (1, 5, 15 min) before {before}, after {load_average()}")
        print("ms per chunk (wall clock, median); reference = the baseline (plain path); +cache = optimized with the frame"
              " cache; backbone = backbone alone as the head uses it; cpu = process CPU time (all threads);"
              " train = one training step")  # fmt: skip
        print(f"{'policy':42s} {'params':>7s} {'reference':>10s} {'optimized':>10s} {'speed-up':>8s} {'+cache':>7s} "
              f"{'backbone':>9s} {'ref cpu':>8s} {'opt cpu':>8s} {'+cache cpu':>10s} {'train ref':>10s} {'train opt':>10s}")  # fmt: skip
        for name, params, r in rows:
            print(f"{name:42s} {params:6.1f}M {r['reference']:10.1f} {r['optimized']:10.1f} "
                  f"{r['reference'] / r['optimized']:7.2f}x {r['cache']:7.1f} {r['backbone']:9.1f} "
                  f"{r['reference cpu']:8.1f} {r['optimized cpu']:8.1f} {r['cache cpu']:10.1f} "
                  f"{r.get('train reference', float('nan')):10.1f} {r.get('train optimized', float('nan')):10.1f}")  # fmt: skip
        for name, limit in TARGETS.items():
            r = next((row[2] for row in rows if row[0] == name), None)
            if r is None:  # left out by --only
                continue
            verdict = (f"threads {n}: {name}: {r['optimized']:.1f} ms per chunk (reference {r['reference']:.1f}, "
                       f"with frame cache {r['cache']:.1f}) <= {limit:.0f} ms: {'met' if r['optimized'] <= limit else 'NOT met'}"
                       f" (load average {load_average()})")  # fmt: skip
            if n == 1:
                verdict += (f"; on CPU time (idle-core estimate) {r['optimized cpu']:.1f} ms: "
                            f"{'met' if r['optimized cpu'] <= limit else 'NOT met'}, with frame cache "
                            f"{r['cache cpu']:.1f} ms: {'met' if r['cache cpu'] <= limit else 'NOT met'}")  # fmt: skip
            print("target " + verdict)
            verdicts.append("target " + verdict)
        token_rows = [(name, r) for name, _, r in rows if "codes" in r]
        if token_rows:
            print(f"\ntoken heads, threads {n}: optimized path with the current generate against the named baseline "
                  f"'old generate' (the original decoding loop), interleaved; ms per chunk (median), codes per chunk "
                  f"(median; without EOS), ms per code = (chunk - backbone time) / (codes + 1)")  # fmt: skip
            print(f"{'policy':42s} {'old gen':>8s} {'new gen':>8s} {'speed-up':>8s} {'old cpu':>8s} {'new cpu':>8s} "
                  f"{'old codes':>9s} {'new codes':>9s} {'old ms/code':>11s} {'new ms/code':>11s}")  # fmt: skip
            for name, r in token_rows:
                old, new = r["old generate"], r["optimized"]
                print(f"{name:42s} {old:8.1f} {new:8.1f} {old / new:7.2f}x {r['old generate cpu']:8.1f} "
                      f"{r['optimized cpu']:8.1f} {r['old codes']:9.0f} {r['codes']:9.0f} "
                      f"{(old - r['backbone']) / (r['old codes'] + 1):11.2f} {(new - r['backbone']) / (r['codes'] + 1):11.2f}")  # fmt: skip
                verdicts.append(f"token head, threads {n}: {name}: {new:.1f} ms per chunk, old generate {old:.1f} ms "
                                f"({old / new:.2f}x; cpu {r['optimized cpu']:.1f} vs {r['old generate cpu']:.1f} ms)"
                                f" (load average {load_average()})")  # fmt: skip
    print("\nsummary (load average now " + load_average() + ")")
    for verdict in verdicts:
        print(verdict)
    return 0


def hf_policy(stats: dict) -> tuple[str, Policy]:
    from transformers import AutoModelForImageTextToText, Idefics3Config

    config = Idefics3Config(  # SmolVLM-256M-like sizes, random weights
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=256, patch_size=16),
        text_config=dict(model_type="llama", vocab_size=49280, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=4096),
        image_token_id=49190, scale_factor=4)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForImageTextToText.from_config(config).save_pretrained(tmp)
        policy = Policy(
            load_config(PolicyConfig, {"backbone": "hf", "hf": {"path": tmp, "text_tokens": "bytes"}}), stats
        )
    return "regression + random Idefics3 ~250M (256px)", policy


if __name__ == "__main__":
    raise SystemExit(main())
