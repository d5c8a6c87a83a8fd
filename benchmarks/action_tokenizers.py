"""FAST action tokenizer: encode and decode time per chunk, batched implementation against the old loops.

Chunks of H=30 steps x D=48 (ego48), synthetic smooth hand motion
(tests/models/helpers_models.synthetic_chunks), normalised with their own
statistics; the tokenizer is fitted on 1000 of them at its default config.
Named baseline, measured in the same run and interleaved with the current
figures (so machine load hits both alike): ``baseline_encode`` /
``baseline_decode`` below, the per-value / per-token Python loops that
``FASTTokenizer`` used before it was batched (copied here verbatim, not kept
in the library). Before timing, both are checked to give identical ids and
identical actions on the benchmark chunks and on random id sequences.

With --head, also the FAST ``tokens`` policy head (built-in tiny backbone,
untrained, batch 1): ``predict_action_chunk`` with the old and the new decode,
and how much of it is the autoregressive generation of the codes (which is
not the tokenizer's work).

The machine may be shared: the load average before and after is printed;
figures are medians over --repeats.

    python benchmarks/action_tokenizers.py [--repeats 30] [--head]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.fft import idct

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
from helpers_models import action_stats, synthetic_chunks  # noqa: E402

from dexego.tokenizers import FASTTokenizer, fit_tokenizer  # noqa: E402
from dexego.tokenizers.base import check_chunks  # noqa: E402

HORIZON, DIM = 30, 48


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def baseline_encode(tokenizer: FASTTokenizer, chunks: np.ndarray) -> list[list[int]]:
    """The encoder before batching: one chr() per coefficient."""
    chunks = check_chunks(chunks, tokenizer.horizon, tokenizer.dim)
    coefficients = tokenizer._coefficients(chunks, tokenizer.config.scale)
    clipped = np.clip(coefficients, tokenizer.min_value, tokenizer.max_value) - tokenizer.min_value
    texts = ["".join(map(chr, row)) for row in clipped.reshape(len(clipped), -1).tolist()]
    return [e.ids for e in tokenizer.bpe.encode_batch(texts)]


def baseline_decode(tokenizer: FASTTokenizer, tokens) -> np.ndarray:
    """The decoder before batching: one BPE call per chunk, one ord() per coefficient."""
    size = tokenizer.horizon * tokenizer.dim
    vocab = tokenizer.vocab_size
    coefficients = np.zeros((len(tokens), size), dtype=np.float64)
    for i, ids in enumerate(tokens):
        text = tokenizer.bpe.decode([int(t) for t in ids if 0 <= int(t) < vocab])
        values = [ord(c) + tokenizer.min_value for c in text[:size]]
        values = [v if tokenizer.min_value <= v <= tokenizer.max_value else 0 for v in values]
        coefficients[i, : len(values)] = values
    coefficients = coefficients.reshape(len(tokens), tokenizer.horizon, tokenizer.dim) / tokenizer.config.scale
    return idct(coefficients, type=2, norm="ortho", axis=1).astype(np.float32)


def interleaved(variants: dict, repeats: int) -> dict[str, float]:
    """Median ms per call of each variant, running every variant once per round (after one warm-up round)."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(repeats + 1):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            if round_index:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) * 1000 for name, s in samples.items()}


def check_agreement(tokenizer: FASTTokenizer, chunks: np.ndarray) -> None:
    tokens = tokenizer.encode(chunks)
    assert tokens == baseline_encode(tokenizer, chunks), "encode differs from the baseline"
    assert np.array_equal(tokenizer.decode(tokens), baseline_decode(tokenizer, tokens)), (
        "decode differs from the baseline"
    )
    rng = np.random.default_rng(0)
    junk = [rng.integers(0, tokenizer.vocab_size, n).tolist() for n in (0, 1, 7, 100, 400, 2000)]
    assert np.array_equal(tokenizer.decode(junk), baseline_decode(tokenizer, junk)), "decode of random ids differs"


def tokenizer_rows(tokenizer: FASTTokenizer, chunks: np.ndarray, repeats: int) -> list[tuple[str, int, float, float]]:
    rows = []
    for batch in (1, 64):
        sample = chunks[:batch]
        tokens = tokenizer.encode(sample)
        r = interleaved({
            "encode baseline": lambda: baseline_encode(tokenizer, sample),
            "encode": lambda: tokenizer.encode(sample),
            "decode baseline": lambda: baseline_decode(tokenizer, tokens),
            "decode": lambda: tokenizer.decode(tokens),
        }, repeats)  # fmt: skip
        for op in ("encode", "decode"):
            rows.append((op, batch, r[f"{op} baseline"] / batch, r[op] / batch))
    return rows


def head_rows(tokenizer: FASTTokenizer, stats: dict, repeats: int) -> dict[str, float]:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from inference import observations

    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = Policy(load_config(PolicyConfig, {"head": "tokens"}), stats, tokenizer).eval()
    head, new_decode = policy.head, tokenizer.decode
    generated: list[int] = []
    generate = head.generate

    def timed_generate(*args, **kwargs):
        start = time.perf_counter()
        out = generate(*args, **kwargs)
        timings["generate"].append(time.perf_counter() - start)
        generated.append(len(out[0]))
        return out

    object.__setattr__(head, "generate", timed_generate)
    timings: dict[str, list[float]] = {"generate": []}
    obs = observations(repeats + 1)
    samples: dict[str, list[float]] = {"baseline decode": [], "batched decode": []}
    for i, o in enumerate(obs):
        for name in samples:
            tokenizer.decode = (lambda t: baseline_decode(tokenizer, t)) if name == "baseline decode" else new_decode
            start = time.perf_counter()
            policy.predict_action_chunk(o, seed=0)
            if i:
                samples[name].append(time.perf_counter() - start)
    del tokenizer.decode
    result = {f"predict_action_chunk, {k}": statistics.median(v) * 1000 for k, v in samples.items()}
    result["of which generate (both)"] = statistics.median(timings["generate"][2:]) * 1000
    result["codes generated (median)"] = float(statistics.median(generated))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--head", action="store_true", help="also the FAST tokens head of a tiny policy, batch 1")
    args = parser.parse_args()
    chunks = synthetic_chunks(1000, seed=1)
    stats = action_stats(chunks)
    normalised = ((chunks - stats["mean"]) / stats["std"]).astype(np.float32)
    tokenizer = fit_tokenizer("fast", normalised)
    assert (tokenizer.horizon, tokenizer.dim) == (HORIZON, DIM)
    check_agreement(tokenizer, normalised[:64])
    lengths = [len(t) for t in tokenizer.encode(normalised[:64])]
    print(f"FAST tokenizer: vocabulary {tokenizer.vocab_size}, max_tokens {tokenizer.max_tokens}, "
          f"{np.mean(lengths):.0f} tokens per chunk on average; chunks ({HORIZON}, {DIM}); medians of {args.repeats}")  # fmt: skip
    print("batched encode/decode agree exactly with the baseline (ids and actions, also on random id sequences)")
    before = load_average()
    rows = tokenizer_rows(tokenizer, normalised, args.repeats)
    print(f"\nload average (1, 5, 15 min) before {before}, after {load_average()}")
    print("ms per chunk (wall clock, median); baseline = the old per-value Python loops, measured in this run")
    print(f"{'operation':10s} {'batch':>5s} {'baseline':>9s} {'batched':>9s} {'speed-up':>8s}")
    for op, batch, old, new in rows:
        print(f"{op:10s} {batch:5d} {old:9.3f} {new:9.3f} {old / new:7.1f}x")
    if args.head:
        before = load_average()
        result = head_rows(tokenizer, stats, max(3, args.repeats // 3))
        print(f"\nFAST tokens head, tiny backbone, untrained, batch 1, 1 torch thread; load average before {before}, "
              f"after {load_average()}")  # fmt: skip
        for name, value in result.items():
            print(f"{name:45s} {value:9.1f}" + (" ms" if "codes" not in name else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
