"""Per-feature statistics (LeRobot's stats.json: min, max, mean, std, count, q01..q99).

Per-episode statistics are exact; the dataset statistics aggregate them:
exact for count/min/max/mean/std, and a count-weighted mean of the episode
quantiles for q01..q99 (the approximation LeRobot makes too). NaN entries
(unknown keypoints) are ignored per dimension.
"""

from __future__ import annotations

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_NAMES = ("min", "max", "mean", "std", "count") + tuple(QUANTILES)
IMAGE_STAT_FRAMES = 32  # frames sampled per episode for image statistics
IMAGE_STAT_SIZE = 32  # longest side of the subsampled image used for statistics


def feature_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of (N, D) values over N, per dimension, ignoring NaN."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    out: dict[str, np.ndarray] = {"count": np.array([len(values)], dtype=np.int64)}
    finite = np.isfinite(values)
    if finite.all():
        out.update(min=values.min(0), max=values.max(0), mean=values.mean(0), std=values.std(0))
        qs = np.quantile(values, list(QUANTILES.values()), axis=0)
    else:
        masked = np.where(finite, values, np.nan)
        with np.errstate(all="ignore"), _quiet():
            out.update(
                min=np.nanmin(masked, 0), max=np.nanmax(masked, 0), mean=np.nanmean(masked, 0), std=np.nanstd(masked, 0)
            )
            qs = np.nanquantile(masked, list(QUANTILES.values()), axis=0)
    for name, q in zip(QUANTILES, qs):
        out[name] = q
    return out


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics (shape (3, 1, 1)) of uint8 frames scaled to [0, 1], from a subsample."""
    n = len(frames)
    pick = np.linspace(0, n - 1, min(n, IMAGE_STAT_FRAMES)).round().astype(int)
    step = max(1, max(frames.shape[1:3]) // IMAGE_STAT_SIZE)
    pixels = frames[pick, ::step, ::step].reshape(-1, 3).astype(np.float64) / 255.0
    stats = feature_stats(pixels)
    out = {k: (v.reshape(3, 1, 1) if k != "count" else np.array([n], dtype=np.int64)) for k, v in stats.items()}
    return out


def aggregate_stats(episodes: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine per-episode statistics of one feature."""
    if not episodes:
        return {}
    shape = np.shape(episodes[0]["mean"])
    counts = np.array([float(e["count"][0]) for e in episodes])
    means = np.stack([np.asarray(e["mean"], dtype=np.float64) for e in episodes])
    stds = np.stack([np.asarray(e["std"], dtype=np.float64) for e in episodes])
    weights = np.where(np.isfinite(means), counts.reshape((-1,) + (1,) * len(shape)), 0.0)
    total = weights.sum(0)
    with np.errstate(all="ignore"):
        mean = np.where(total > 0, np.nansum(np.nan_to_num(means) * weights, 0) / total, np.nan)
        var = np.nansum(weights * (np.nan_to_num(stds) ** 2 + (np.nan_to_num(means) - mean) ** 2), 0) / total
        out = {
            "min": _nan_reduce(np.fmin, [e["min"] for e in episodes]),
            "max": _nan_reduce(np.fmax, [e["max"] for e in episodes]),
            "mean": mean,
            "std": np.sqrt(np.maximum(var, 0.0)),
            "count": np.array([int(counts.sum())], dtype=np.int64),
        }
        for name in QUANTILES:
            qs = np.stack([np.asarray(e[name], dtype=np.float64) for e in episodes])
            out[name] = np.where(total > 0, np.nansum(np.nan_to_num(qs) * weights, 0) / total, np.nan)
    return out


def weighted_stats(groups: list[tuple[np.ndarray, float]]) -> dict[str, np.ndarray]:
    """:func:`feature_stats` of the rows of several (N_i, D) arrays, each row of group i counting ``weight_i``
    times (a group of weight 0 is left out), NaN ignored per dimension.

    With equal weights this is :func:`feature_stats` of the stacked rows (the quantiles interpolate linearly
    between order statistics, as numpy's default does; with unequal weights a row's position is the weight
    below it over the total weight without the largest row's)."""
    groups = [(np.asarray(v, dtype=np.float64).reshape(len(v), -1), float(w)) for v, w in groups if w > 0 and len(v)]
    if not groups:
        raise ValueError("no values to compute statistics from")
    values = np.concatenate([v for v, _ in groups])
    weights = np.concatenate([np.full(len(v), w) for v, w in groups])
    finite = np.isfinite(values)
    dims = values.shape[1]
    out: dict[str, np.ndarray] = {
        "count": np.array([int(round(sum(len(v) * w for v, w in groups)))], dtype=np.int64),
        "min": np.full(dims, np.nan),
        "max": np.full(dims, np.nan),
        "mean": np.full(dims, np.nan),
        "std": np.full(dims, np.nan),
    }
    quantiles = np.full((len(QUANTILES), dims), np.nan)
    for d in range(dims):
        x, w = values[finite[:, d], d], weights[finite[:, d]]
        if not len(x):
            continue
        mean = float(np.sum(w * x) / np.sum(w))
        out["mean"][d], out["std"][d] = mean, float(np.sqrt(np.sum(w * (x - mean) ** 2) / np.sum(w)))
        out["min"][d], out["max"][d] = x.min(), x.max()
        order = np.argsort(x, kind="stable")
        x, w = x[order], w[order]
        below = np.concatenate([[0.0], np.cumsum(w)[:-1]])
        position = below / (below[-1] if len(x) > 1 else 1.0)
        quantiles[:, d] = np.interp(list(QUANTILES.values()), position, x)
    for name, q in zip(QUANTILES, quantiles):
        out[name] = q
    return out


def _nan_reduce(fn, arrays):
    result = np.asarray(arrays[0], dtype=np.float64)
    for a in arrays[1:]:
        result = fn(result, np.asarray(a, dtype=np.float64))
    return result


def stats_to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    return {feat: {k: np.asarray(v).tolist() for k, v in s.items()} for feat, s in stats.items()}


def stats_from_json(data: dict) -> dict[str, dict[str, np.ndarray]]:
    return {
        feat: {k: np.asarray(v, dtype=np.int64 if k == "count" else np.float64) for k, v in s.items()}
        for feat, s in data.items()
    }


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
