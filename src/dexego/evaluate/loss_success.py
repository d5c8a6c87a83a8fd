"""Does validation loss predict robot success? Correlations of per-run losses with success rates.

EgoScale's second law: the human-data validation loss of a pretrained model predicts the success
rate of the robot policy fine-tuned from it, so loss can choose data and checkpoints. Given per run
(one pretraining amount and seed, fine-tuned and rolled out) its pretraining validation loss, its
post-fine-tuning robot validation loss (optional) and its successes k of n rollouts,
:func:`loss_success` reports Pearson's r and Spearman's rho between each loss and the success rate
k/n, each with a percentile bootstrap interval over runs (runs resampled with replacement), and says
in one sentence whether the interval excludes 0. :func:`plot_loss_success` draws success against
each loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

FORMAT = "dexego.loss_success/1"
LOSSES = {
    "pretrain_loss": "pretraining validation loss (human)",
    "robot_loss": "post-fine-tuning robot validation loss",
}


class TooFewRuns(ValueError):
    """Fewer runs (or too little variation) than a correlation needs."""


@dataclass(frozen=True)
class RunOutcome:
    """One fine-tuned run: its losses and its rollouts' successes."""

    label: str
    pretrain_loss: float
    successes: int
    rollouts: int
    robot_loss: float | None = None
    amount: float | None = None  # the pretraining data amount (for the plot's colours and the table)

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.rollouts or self.rollouts < 1:
            raise ValueError(
                f"run {self.label!r}: need 0 <= successes <= rollouts and rollouts >= 1, got {self.successes}/{self.rollouts}"
            )
        for name in ("pretrain_loss", "robot_loss"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"run {self.label!r}: {name} must be finite, got {value}")

    @property
    def success_rate(self) -> float:
        return self.successes / self.rollouts


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(xc @ yc) / denom if denom > 0 else math.nan


def _ranks(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return _pearson(_ranks(x), _ranks(y))


def correlation(
    x: Sequence[float], y: Sequence[float], resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """Pearson and Spearman correlation of x and y with percentile bootstrap intervals over the pairs.

    Resamples in which x or y is constant (no correlation defined) are left out and counted.
    Raises :class:`TooFewRuns` below 3 pairs or when x or y is constant.
    """
    x_arr, y_arr = np.asarray(x, float), np.asarray(y, float)
    if x_arr.shape != y_arr.shape or x_arr.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x_arr.shape} and {y_arr.shape}")
    if len(x_arr) < 3:
        raise TooFewRuns(f"a correlation needs at least 3 runs, got {len(x_arr)}")
    if np.ptp(x_arr) == 0 or np.ptp(y_arr) == 0:
        which = "success rate" if np.ptp(y_arr) == 0 else "loss"
        raise TooFewRuns(f"every run has the same {which}: no correlation is defined")
    rng = np.random.default_rng(seed)
    tail = 100 * (1 - confidence) / 2
    out: dict = {"runs": len(x_arr), "confidence": confidence, "resamples": resamples}
    idx = rng.integers(0, len(x_arr), size=(resamples, len(x_arr)))
    for name, fn in (("pearson", _pearson), ("spearman", _spearman)):
        draws = np.array([fn(x_arr[i], y_arr[i]) for i in idx])
        ok = draws[np.isfinite(draws)]
        low, high = (
            (float(np.percentile(ok, tail)), float(np.percentile(ok, 100 - tail))) if ok.size else (math.nan, math.nan)
        )
        out[name] = {"r": fn(x_arr, y_arr), "interval": [low, high], "includes_zero": bool(not ok.size or low <= 0 <= high),
                     "undefined_resamples": int(draws.size - ok.size)}  # fmt: skip
    return out


def _statement(name: str, result: dict) -> str:
    pct = f"{100 * result['confidence']:g} %"
    parts = []
    for method in ("pearson", "spearman"):
        r = result[method]
        parts.append(
            f"{method.capitalize()} {r['r']:+.2f} ({pct} bootstrap interval {r['interval'][0]:+.2f} to {r['interval'][1]:+.2f})"
        )
    p = result["pearson"]
    s = result["spearman"]
    if p["includes_zero"] or s["includes_zero"]:
        verdict = (
            f"an interval includes 0: these {result['runs']} runs do not show that the {LOSSES[name]} predicts success"
        )
    elif p["r"] < 0 and s["r"] < 0:
        verdict = (
            f"both intervals exclude 0: lower {LOSSES[name]} goes with higher success over these {result['runs']} runs"
        )
    else:
        verdict = (
            f"both intervals exclude 0 but the sign is positive: higher {LOSSES[name]} goes with HIGHER success here"
        )
    return f"{LOSSES[name]} vs success rate: {'; '.join(parts)}; {verdict}."


def loss_success(runs: Sequence[RunOutcome], resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict:
    """Correlation of each loss with the success rate over runs (a JSON-able dict with plain statements).

    A loss missing from some runs is correlated over the runs that have it; a correlation that
    cannot be computed (fewer than 3 runs, a constant loss or success rate) is None with its reason.
    """
    runs = list(runs)
    out: dict = {"format": FORMAT, "runs": [asdict(r) | {"success_rate": r.success_rate} for r in runs],
                 "interval_method": f"percentile bootstrap over runs ({resamples} resamples)", "statements": []}  # fmt: skip
    for name in LOSSES:
        have = [r for r in runs if getattr(r, name) is not None]
        try:
            result = correlation(
                [getattr(r, name) for r in have], [r.success_rate for r in have], resamples, confidence, seed
            )
        except TooFewRuns as exc:
            out[name] = None
            out["statements"].append(f"{LOSSES[name]} vs success rate: not computed: {exc}.")
            continue
        out[name] = result
        out["statements"].append(_statement(name, result))
    return out


def plot_loss_success(runs: Sequence[RunOutcome], result: dict | None = None):
    """A matplotlib Figure: success rate (with 95 % Wilson intervals) against each loss, one panel per loss."""
    from matplotlib.figure import Figure

    from dexego.evaluate.stats import wilson_interval

    names = [n for n in LOSSES if any(getattr(r, n) is not None for r in runs)]
    fig = Figure(figsize=(5 * max(len(names), 1), 4))
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        have = [r for r in runs if getattr(r, name) is not None]
        x = np.array([getattr(r, name) for r in have])
        rate = np.array([r.success_rate for r in have])
        low, high = np.array([wilson_interval(r.successes, r.rollouts) for r in have]).T
        amounts = [r.amount for r in have]
        colour = np.log10(amounts) if all(a is not None and a > 0 for a in amounts) else None
        ax.errorbar(x, 100 * rate, yerr=100 * np.abs(np.stack([rate - low, high - rate])), fmt="none",
                    ecolor="0.6", zorder=1)  # fmt: skip
        points = ax.scatter(x, 100 * rate, zorder=2, **({} if colour is None else {"c": colour, "cmap": "viridis"}))
        if colour is not None:
            fig.colorbar(points, ax=ax, label="log10(data amount)")
        summary = (result or {}).get(name)
        title = LOSSES[name]
        if summary:
            title += f"\nPearson {summary['pearson']['r']:+.2f} [{summary['pearson']['interval'][0]:+.2f}, {summary['pearson']['interval'][1]:+.2f}]"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(name.replace("_", " "))
        ax.set_ylabel("success rate (%)")
        ax.grid(True, alpha=0.3)
    return fig
