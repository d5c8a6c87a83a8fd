"""Per-chunk latency and training-step time of each action head.

Built-in tiny backbone (default configs) on this machine, against a named
baseline measured in the same run: the backbone alone (the floor every head
pays). Targets: regression <= 20 ms per chunk, flow (10 steps) <= 60 ms.
With --hf, also a ~250M-parameter random SmolVLM-like (Idefics3) backbone
built from a config (no download) with the regression head.

    python benchmarks/inference.py [--repeats 20] [--hf] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
from helpers_models import action_stats, synthetic_batch, synthetic_chunks  # noqa: E402

from dexego.config import load_config  # noqa: E402
from dexego.models import Policy, PolicyConfig  # noqa: E402
from dexego.tokenizers import fit_tokenizer  # noqa: E402


def timed(fn, repeats: int, device: str) -> float:
    fn()  # warm-up
    values = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        values.append(time.perf_counter() - start)
    return statistics.median(values) * 1000


def measure(policy: Policy, batch: dict, repeats: int, device: str) -> tuple[float, float, float]:
    policy.to(device)
    obs = {k: v[0] for k, v in batch.items() if k not in ("actions", "action_valid")}
    data = {k: v for k, v in batch.items()}
    optimiser = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)

    def train_step():
        loss, _ = policy(data)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    def backbone_only():
        from dexego.models.observation import prepare

        with torch.no_grad():
            prepared, _ = prepare(obs, policy.space.dim, policy.config.n_obs_frames, policy.device, with_actions=False)
            policy.backbone.eval()(prepared["images"], prepared["image_mask"], prepared["instruction"])

    latency = timed(lambda: policy.predict_action_chunk(obs, seed=0), repeats, device)
    floor = timed(backbone_only, repeats, device)
    policy.train()
    step = timed(train_step, max(3, repeats // 4), device)
    return latency, floor, step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8, help="training batch size")
    parser.add_argument("--hf", action="store_true", help="also a ~250M-parameter random Idefics3 backbone")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, training batch {args.batch}")
    batch = synthetic_batch(batch=args.batch, size=224, seed=0)
    chunks = synthetic_chunks(1000, seed=1)
    stats = action_stats(chunks)
    normalised = ((chunks - stats["mean"]) / stats["std"]).astype(np.float32)
    tokenizers = {"rvq": fit_tokenizer("rvq", normalised, {"train_steps": 300}), "fast": fit_tokenizer("fast", normalised)}
    rows = []
    for name, head, extra, tokenizer in [
        ("regression", "regression", {}, None),
        ("flow (10 steps, CFG)", "flow", {"num_steps": 10, "cfg_scale": 5.0}, None),
        ("flow (10 steps, no CFG)", "flow", {"num_steps": 10, "cfg_scale": 1.0}, None),
        ("tokens (RVQ, 20 codes)", "tokens", {}, tokenizers["rvq"]),
        (f"tokens (FAST, <= {tokenizers['fast'].max_tokens} codes)", "tokens", {}, tokenizers["fast"]),
    ]:
        torch.manual_seed(0)
        policy = Policy(load_config(PolicyConfig, {"head": head, head: extra}), stats, tokenizer)
        params = sum(p.numel() for p in policy.parameters()) / 1e6
        rows.append((name, params, *measure(policy, batch, args.repeats, args.device)))
    if args.hf:
        rows.append(hf_row(batch, stats, args))
    print(f"\n{'policy':44s} {'params':>8s} {'chunk ms':>9s} {'backbone ms (baseline)':>23s} {'head ms':>8s} {'train step ms':>14s}")
    for name, params, latency, floor, step in rows:
        print(f"{name:44s} {params:7.1f}M {latency:9.1f} {floor:23.1f} {latency - floor:8.1f} {step:14.1f}")
    targets = {"regression": 20.0, "flow (10 steps, CFG)": 60.0}
    for name, limit in targets.items():
        latency = next(r[2] for r in rows if r[0] == name)
        print(f"target {name}: {latency:.1f} ms per chunk <= {limit:.0f} ms: {'met' if latency <= limit else 'NOT met'}")
    return 0


def hf_row(batch: dict, stats: dict, args) -> tuple:
    from transformers import AutoModelForImageTextToText, Idefics3Config

    config = Idefics3Config(  # SmolVLM-256M-like sizes, random weights
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=256, patch_size=16),
        text_config=dict(model_type="llama", vocab_size=49280, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=4096),
        image_token_id=49190, scale_factor=4)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForImageTextToText.from_config(config).save_pretrained(tmp)
        policy = Policy(load_config(PolicyConfig, {"backbone": "hf", "hf": {"path": tmp, "text_tokens": "bytes"}}), stats)
    params = sum(p.numel() for p in policy.parameters()) / 1e6
    small = {k: (v[:2] if not isinstance(v, list) else v[:2]) for k, v in batch.items()}
    return ("regression + random Idefics3 ~250M (6 frames 256px)", params, *measure(policy, small, max(3, args.repeats // 5), args.device))


if __name__ == "__main__":
    raise SystemExit(main())
