"""Log-linear scaling law of validation loss against data amount (EgoScale: R^2 = 0.9983).

Model: ``loss = a + b * log10(amount)`` fitted by ordinary least squares; ``b``
is the change of loss per tenfold more data (negative when more data helps).

Points come from files:

- a JSON object ``{"unit": "hours", "points": [{"amount": 10, "loss": 0.8, "label": "..."}, ...]}``,
  or one point ``{"amount": 10, "loss": 0.8}`` (``data_hours`` / ``data_episodes`` may replace
  ``amount`` and then also give the unit; ``val_loss`` may replace ``loss``);
- a CSV with a header containing ``amount`` (or ``data_hours`` / ``data_episodes``) and ``loss``
  (or ``val_loss``) columns;
- a training run directory (or its ``metrics.jsonl``): the loss is the lowest ``loss`` of the
  validation split (``split`` if given, else "val", else "val_human", else the first split whose
  name starts with "val") and the amount is the ``data_hours`` / ``data_episodes`` value found
  there (see :mod:`dexego.evaluate.metrics_log`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dexego.errors import InputError
from dexego.evaluate.metrics_log import AMOUNT_KEYS, read_metrics, resolve_metrics_path
from dexego.utils.files import read_json

FORMAT = "dexego.scaling_fit/1"


@dataclass(frozen=True)
class ScalingPoint:
    """One (data amount, validation loss) point of a scaling-law fit."""

    amount: float
    loss: float
    label: str = ""
    unit: str = ""


@dataclass(frozen=True)
class ScalingFit:
    """``loss = intercept + slope * log10(amount)`` with R² and standard errors, fitted by :func:`fit_log_linear`."""

    intercept: float  # a: the loss at amount 1
    slope: float  # b: loss change per tenfold amount
    r2: float
    intercept_se: float  # standard errors (NaN with fewer than 3 points)
    slope_se: float
    count: int
    unit: str

    def predict(self, amount: float | np.ndarray) -> float | np.ndarray:
        amount_arr = np.asarray(amount, dtype=np.float64)
        if (amount_arr <= 0).any():
            raise ValueError(f"amounts must be positive, got {amount}")
        out = self.intercept + self.slope * np.log10(amount_arr)
        return float(out) if out.ndim == 0 else out

    def amount_for_loss(self, loss: float) -> float:
        """The amount at which the fitted law reaches ``loss`` (inf if the slope is zero)."""
        if self.slope == 0:
            return math.inf
        return float(10 ** ((loss - self.intercept) / self.slope))


def fit_log_linear(amounts: Sequence[float], losses: Sequence[float], unit: str = "") -> ScalingFit:
    """Least-squares fit of loss = a + b * log10(amount)."""
    x = np.asarray(amounts, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"amounts and losses must be 1-D of equal length, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("amounts and losses must be finite")
    if (x <= 0).any():
        raise ValueError(f"data amounts must be positive, got {x[x <= 0].tolist()}")
    logx = np.log10(x)
    if len(x) < 2 or np.ptp(logx) == 0:
        raise ValueError("a fit needs at least two different data amounts")
    design = np.stack([np.ones_like(logx), logx], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - (a + b * logx)
    ss_res = float(residual @ residual)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    n = len(x)
    if n > 2:
        sigma2 = ss_res / (n - 2)
        cov = sigma2 * np.linalg.inv(design.T @ design)
        a_se, b_se = float(math.sqrt(cov[0, 0])), float(math.sqrt(cov[1, 1]))
    else:
        a_se = b_se = math.nan
    return ScalingFit(float(a), float(b), float(r2), a_se, b_se, n, unit)


def load_points(paths: Sequence[str | Path], split: str | None = None) -> list[ScalingPoint]:
    """Points from files and run directories (see the module docstring); ``split`` picks the runs' validation split."""
    points: list[ScalingPoint] = []
    for path in paths:
        points += _load_one(Path(path), split)
    units = {p.unit for p in points if p.unit}
    if len(units) > 1:
        raise InputError(None, "unit", f"scaling points mix data units {sorted(units)}; fit one unit at a time")
    return points


def _load_one(path: Path, split: str | None) -> list[ScalingPoint]:
    if path.is_dir() or path.suffix == ".jsonl":
        return [_point_from_run(path, split)]
    if not path.is_file():
        raise InputError(path, None, "file not found")
    if path.suffix == ".csv":
        return _points_from_csv(path)
    data = read_json(path, expect=dict)
    if "points" in data:
        if not isinstance(data["points"], list) or not data["points"]:
            raise InputError(path, "points", "expected a non-empty list")
        unit = data.get("unit", "")
        return [_point(p, path, f"points[{i}]", unit) for i, p in enumerate(data["points"])]
    return [_point(data, path, "", data.get("unit", ""))]


def _point(record: object, path: Path, where: str, unit: str) -> ScalingPoint:
    if not isinstance(record, dict):
        raise InputError(path, where or None, "expected an object with amount and loss")
    amount, amount_unit = None, unit
    for key, key_unit in (("amount", unit), *AMOUNT_KEYS.items()):
        if key in record:
            amount, amount_unit = record[key], key_unit
            break
    loss = record.get("loss", record.get("val_loss"))
    prefix = f"{where}." if where else ""
    amount = _positive(amount, path, f"{prefix}amount")
    loss = _finite(loss, path, f"{prefix}loss")
    return ScalingPoint(amount, loss, str(record.get("label", "")), str(amount_unit or ""))


def _points_from_csv(path: Path) -> list[ScalingPoint]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise InputError(path, None, "no rows")
    points = []
    for i, row in enumerate(rows):
        record = {k.strip(): _csv_value(v) for k, v in row.items() if k}
        points.append(_point(record, path, f"row {i + 2}", str(record.get("unit", ""))))
    return points


def _csv_value(text: str | None) -> object:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text.strip()


def _point_from_run(path: Path, split: str | None) -> ScalingPoint:
    metrics_path = resolve_metrics_path(path)
    log = read_metrics(metrics_path)
    split = split or validation_split(log.splits())
    loss = None if split is None else log.best(split, "loss")
    if loss is None:
        raise InputError(metrics_path, "loss", f"no validation loss (split {split or 'val*'!r}) in the metrics log")
    if log.data_amount is None:
        raise InputError(metrics_path, "data_hours", f"no data amount ({' or '.join(AMOUNT_KEYS)}) in the metrics log")
    amount, unit = log.data_amount
    label = metrics_path.parent.name if metrics_path.name == "metrics.jsonl" else metrics_path.stem
    return ScalingPoint(amount, loss, label, unit)


def validation_split(splits: Sequence[str]) -> str | None:
    """The split a scaling fit reads: "val", else "val_human", else the first starting with "val"."""
    for preferred in ("val", "val_human"):
        if preferred in splits:
            return preferred
    return next((s for s in sorted(splits) if s.startswith("val")), None)


def _positive(value: object, path: Path, field: str) -> float:
    number = _finite(value, path, field)
    if number <= 0:
        raise InputError(path, field, f"expected a positive amount, got {value!r}")
    return number


def _finite(value: object, path: Path, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(path, field, f"expected a finite number, got {value!r}")
    return float(value)


def scaling_result(points: Sequence[ScalingPoint], fit: ScalingFit, predict_at: Sequence[float] = ()) -> dict:
    """JSON-able record of a fit, its points and predictions."""
    return {
        "format": FORMAT,
        "law": "loss = intercept + slope * log10(amount)",
        "fit": asdict(fit),
        "points": [asdict(p) for p in points],
        "predictions": [{"amount": float(x), "loss": fit.predict(x)} for x in predict_at],
    }


def plot_scaling(points: Sequence[ScalingPoint], fit: ScalingFit, predict_at: Sequence[float] = ()):
    """A matplotlib Figure: points, the fitted law (log x axis), predictions marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    x = np.array([p.amount for p in points])
    y = np.array([p.loss for p in points])
    ax.scatter(x, y, color="tab:blue", zorder=3, label="runs")
    lo, hi = x.min(), max([x.max(), *predict_at])
    grid = np.logspace(np.log10(lo), np.log10(hi), 100)
    ax.plot(grid, fit.predict(grid), color="tab:orange", label=f"fit: {fit.intercept:.3f} {fit.slope:+.3f}·log10(x), R²={fit.r2:.4f}")
    for amount in predict_at:
        ax.scatter([amount], [fit.predict(amount)], marker="x", color="tab:red", zorder=3)
        ax.annotate(f"{fit.predict(amount):.3f}", (amount, fit.predict(amount)), textcoords="offset points", xytext=(5, 5))
    ax.set_xscale("log")
    ax.set_xlabel(f"data ({fit.unit})" if fit.unit else "data amount")
    ax.set_ylabel("validation loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
