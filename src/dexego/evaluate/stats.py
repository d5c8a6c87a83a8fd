"""Success-rate statistics a reviewer accepts: pooled k/n with Wilson intervals, and a paired test between arms.

- :func:`wilson_interval`: the Wilson score interval of a binomial proportion
  (95 % by default), which, unlike the normal approximation, stays inside
  [0, 1] and is usable at k = 0 or k = n with few rollouts.
- :func:`pooled`: k/n over rollouts (of any tasks and seeds) with its interval.
- :func:`mcnemar_exact`: the exact McNemar test on paired rollouts (the same
  task, split, look and seed run by two arms): under the null hypothesis each
  discordant pair (one arm succeeds, the other fails) goes either way with
  probability 1/2, so the two-sided p value is a binomial test on the
  discordant counts (scipy.stats.binomtest).
- :func:`paired_rollouts`: the discordant counts of two arms' rollout records,
  matched on (task, split, seed, room, table) and, when present, the training
  seed of the run they came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import binomtest, norm

PAIR_KEYS = ("task", "split", "seed", "room", "table", "train_seed")


@dataclass(frozen=True)
class Proportion:
    """k successes of n with a confidence interval (rates in [0, 1])."""

    k: int
    n: int
    low: float
    high: float
    confidence: float = 0.95

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def text(self, percent: bool = True) -> str:
        """e.g. '7/20 = 35.0 % (95 % Wilson CI 18.1-56.7)'."""
        if not self.n:
            return "0/0"
        scale, unit = (100.0, " %") if percent else (1.0, "")
        c = round(100 * self.confidence)
        return (f"{self.k}/{self.n} = {scale * self.rate:.1f}{unit} "
                f"({c} % Wilson CI {scale * self.low:.1f}-{scale * self.high:.1f})")  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def pooled(successes: Iterable[bool], confidence: float = 0.95) -> Proportion:
    """k/n of a sequence of rollout outcomes, with its Wilson interval."""
    values = [bool(s) for s in successes]
    k, n = sum(values), len(values)
    return Proportion(k, n, *wilson_interval(k, n, confidence), confidence=confidence)


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test of arm A vs arm B on paired rollouts."""

    pairs: int  # rollouts both arms ran
    a_only: int  # A succeeded, B failed
    b_only: int  # B succeeded, A failed
    p_value: float  # two-sided

    def text(self) -> str:
        return (f"{self.pairs} paired rollouts, {self.a_only} won only by A, {self.b_only} only by B; "
                f"exact McNemar p = {self.p_value:.3g}")  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(a_only: int, b_only: int, pairs: int | None = None) -> PairedTest:
    """Two-sided exact McNemar test from the discordant counts."""
    if a_only < 0 or b_only < 0:
        raise ValueError(f"discordant counts must be >= 0, got {a_only} and {b_only}")
    discordant = a_only + b_only
    p = 1.0 if discordant == 0 else float(binomtest(a_only, discordant, 0.5).pvalue)
    return PairedTest(discordant if pairs is None else int(pairs), int(a_only), int(b_only), min(1.0, p))


def _key(record: Mapping[str, Any]) -> tuple:
    return tuple(record.get(k) for k in PAIR_KEYS)


def paired_rollouts(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> PairedTest:
    """The exact McNemar test between two arms' rollout records, paired on (task, split, seed, look, training seed).

    Rollouts that only one arm ran are left out; a key that occurs twice in one arm is an error."""

    def index(records, name):
        out: dict[tuple, bool] = {}
        for r in records:
            key = _key(r)
            if key in out:
                raise ValueError(f"arm {name}: two rollouts share {dict(zip(PAIR_KEYS, key))}")
            out[key] = bool(r["success"])
        return out

    left, right = index(a, "A"), index(b, "B")
    common = sorted(set(left) & set(right), key=str)
    a_only = sum(left[k] and not right[k] for k in common)
    b_only = sum(right[k] and not left[k] for k in common)
    return mcnemar_exact(a_only, b_only, pairs=len(common))
