"""Scaling laws of validation loss against data amount (EgoScale: log-linear, R^2 = 0.9983).

Two forms are fitted to per-run points (several training seeds per amount are
several points at one amount):

- log-linear ``loss = a + b * log10(amount)`` (:func:`fit_log_linear`, ordinary
  least squares); ``b`` is the change of loss per tenfold more data (negative
  when more data helps);
- power law ``loss = c + k * amount**-alpha`` (:func:`fit_power_law`, form
  "offset", ``c`` the loss that no amount of data removes) or the pure form
  ``loss = k * amount**-alpha`` (form "pure"), least squares in loss units.

:func:`analyse_scaling` fits both, gives R^2, 95 % parameter intervals (a
bootstrap over seeds when every amount has at least two runs, else from the
fit's covariance; the result says which), a leave-last-out check (fit on the
smaller amounts, predict the largest) and warnings (a loss that rises with
more data; too few amounts for a form or for the check).

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
LOG_LINEAR, POWER_LAW = "log_linear", "power_law"
POWER_FORMS = ("offset", "pure")
_ALPHA_BOUNDS = (1e-3, 10.0)  # power-law exponents searched


class TooFewAmounts(ValueError):
    """Fewer different data amounts than a fit or check needs."""


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
    x, y = _check_xy(amounts, losses)
    logx = np.log10(x)
    if len(x) < 2 or np.ptp(logx) == 0:
        raise TooFewAmounts("a fit needs at least two different data amounts")
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


@dataclass(frozen=True)
class PowerLawFit:
    """``loss = offset + scale * amount**-exponent`` (form "offset") or ``scale * amount**-exponent`` (form "pure")."""

    offset: float  # c: the loss no amount of data removes (0 in the pure form)
    scale: float  # k
    exponent: float  # alpha
    r2: float
    count: int
    unit: str
    form: str = "offset"
    at_bound: bool = False  # the exponent ended at the searched range's edge: the form is not identified

    def predict(self, amount: float | np.ndarray) -> float | np.ndarray:
        amount_arr = np.asarray(amount, dtype=np.float64)
        if (amount_arr <= 0).any():
            raise ValueError(f"amounts must be positive, got {amount}")
        out = self.offset + self.scale * amount_arr ** (-self.exponent)
        return float(out) if out.ndim == 0 else out


def _check_xy(amounts: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(amounts, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"amounts and losses must be 1-D of equal length, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("amounts and losses must be finite")
    if (x <= 0).any():
        raise ValueError(f"data amounts must be positive, got {x[x <= 0].tolist()}")
    return x, y


def min_amounts(law: str, form: str = "offset") -> int:
    """Different data amounts a law needs beyond its parameter count (one more, so a residual remains)."""
    if law == LOG_LINEAR:
        return 3
    if law == POWER_LAW:
        return 4 if form == "offset" else 3
    raise ValueError(f"unknown law {law!r}; valid: {LOG_LINEAR}, {POWER_LAW}")


def fit_power_law(
    amounts: Sequence[float], losses: Sequence[float], unit: str = "", form: str = "offset"
) -> PowerLawFit:
    """Least-squares fit (in loss units) of ``loss = c + k * amount**-alpha`` (form "offset") or ``k * amount**-alpha`` ("pure").

    For a given exponent the law is linear in c and k, so the exponent is found by a bounded search
    over ``alpha`` in [0.001, 10] (a grid, then Brent's method) with c and k solved exactly at each
    ``alpha``. An exponent at the edge of that range means the data do not identify the form
    (an offset power law with a tiny exponent is the log-linear law); ``at_bound`` says so.
    """
    if form not in POWER_FORMS:
        raise ValueError(f"unknown power-law form {form!r}; valid: {', '.join(POWER_FORMS)}")
    x, y = _check_xy(amounts, losses)
    need = min_amounts(POWER_LAW, form)
    if len(np.unique(x)) < need:
        raise TooFewAmounts(f"a {form} power law needs at least {need} different data amounts, got {len(np.unique(x))}")
    from scipy.optimize import minimize_scalar

    ref = float(np.exp(np.log(x).mean()))  # amounts relative to their geometric mean: well-conditioned powers
    xr = x / ref

    def solve(log_alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Residual sums of squares, c and k at each exponent (closed-form least squares)."""
        z = xr[None, :] ** (-np.exp(np.atleast_1d(log_alpha))[:, None])
        if form == "offset":
            zc = z - z.mean(axis=1, keepdims=True)
            k = (zc @ (y - y.mean())) / np.maximum((zc * zc).sum(axis=1), 1e-300)
            c = y.mean() - k * z.mean(axis=1)
        else:
            k = (z @ y) / np.maximum((z * z).sum(axis=1), 1e-300)
            c = np.zeros_like(k)
        residual = y[None, :] - c[:, None] - k[:, None] * z
        return (residual * residual).sum(axis=1), c, k

    lo, hi = math.log(_ALPHA_BOUNDS[0]), math.log(_ALPHA_BOUNDS[1])
    grid = np.linspace(lo, hi, 61)
    sse = solve(grid)[0]
    i = int(np.argmin(sse))
    left, right = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best = minimize_scalar(
        lambda t: float(solve(t)[0][0]), bounds=(left, right), method="bounded", options={"xatol": 1e-6}
    )
    log_alpha = float(best.x) if best.fun <= sse[i] else float(grid[i])
    (ss_res,), (offset,), (k_ref,) = solve(log_alpha)
    ss_res, offset, k_ref = float(ss_res), float(offset), float(k_ref)
    alpha = math.exp(log_alpha)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    at_bound = log_alpha - lo < 1e-3 or hi - log_alpha < 1e-3
    return PowerLawFit(offset, k_ref * ref**alpha, alpha, float(r2), len(x), unit, form, bool(at_bound))


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


# ------------------------------------------------------------------------------------------ analysis
FORMULAS = {
    LOG_LINEAR: "loss = a + b * log10(amount)",
    "offset": "loss = c + k * amount^-alpha",
    "pure": "loss = k * amount^-alpha",
}


def _fit(law: str, x: np.ndarray, y: np.ndarray, unit: str, form: str) -> ScalingFit | PowerLawFit:
    return fit_log_linear(x, y, unit) if law == LOG_LINEAR else fit_power_law(x, y, unit, form)


def _params(fit: ScalingFit | PowerLawFit) -> dict[str, float]:
    if isinstance(fit, ScalingFit):
        return {"a": fit.intercept, "b": fit.slope}
    out = {"k": fit.scale, "alpha": fit.exponent}
    return {"c": fit.offset, **out} if fit.form == "offset" else out


def _rebuild(law: str, params: np.ndarray, unit: str, form: str) -> ScalingFit | PowerLawFit:
    if law == LOG_LINEAR:
        return ScalingFit(float(params[0]), float(params[1]), math.nan, math.nan, math.nan, 0, unit)
    c, k, alpha = params if form == "offset" else (0.0, *params)
    return PowerLawFit(float(c), float(k), float(alpha), math.nan, 0, unit, form)


def _covariance(fit: ScalingFit | PowerLawFit, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Least-squares covariance of the parameters (Gauss-Newton), the residual variance and its degrees of freedom."""
    if isinstance(fit, ScalingFit):
        jac = np.stack([np.ones_like(x), np.log10(x)], axis=1)
    else:
        z = x ** (-fit.exponent)
        columns = [z, -fit.scale * z * np.log(x)]
        jac = np.stack(([np.ones_like(x)] if fit.form == "offset" else []) + columns, axis=1)
    residual = y - fit.predict(x)
    dof = len(x) - jac.shape[1]
    s2 = float(residual @ residual) / dof if dof > 0 else math.nan
    return s2 * np.linalg.pinv(jac.T @ jac), s2, dof


def _draws(law, fit, x, y, groups, method, resamples, rng, form) -> tuple[np.ndarray, np.ndarray, int]:
    """Parameter draws (resamples x parameters), each draw's residual sd, and the number of failed refits."""
    names = list(_params(fit))
    if method == "covariance":
        cov, s2, _ = _covariance(fit, x, y)
        centre = np.array(list(_params(fit).values()))
        draws = rng.multivariate_normal(centre, np.nan_to_num(cov), size=resamples, check_valid="ignore", method="eigh")
        return draws, np.full(resamples, math.sqrt(s2) if np.isfinite(s2) else 0.0), 0
    draws, sds, failed = [], [], 0
    for _ in range(resamples):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            refit = _fit(law, x[idx], y[idx], fit.unit, form)
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        values = np.array([_params(refit)[n] for n in names])
        if not np.isfinite(values).all():
            failed += 1
            continue
        draws.append(values)
        _, s2, _ = _covariance(refit, x[idx], y[idx])
        sds.append(math.sqrt(s2) if np.isfinite(s2) else 0.0)
    if not draws:
        raise TooFewAmounts(f"every one of {resamples} bootstrap refits of the {law} law failed")
    # Resampling n runs with replacement spreads a mean by (n - 1) / n of its variance: undo that
    # (the usual small-sample correction; with 3 seeds per amount the percentiles would be ~18 % narrow).
    n = len(groups) / sum(1.0 / len(g) for g in groups)  # harmonic mean of runs per amount
    centre = np.array(list(_params(fit).values()))
    return centre + math.sqrt(n / (n - 1)) * (np.array(draws) - centre), np.array(sds), failed


def _law_summary(fit, draws, failed, confidence, method, x, y) -> dict:
    names = list(_params(fit))
    tail = 100 * (1 - confidence) / 2
    if method == "covariance":
        from scipy.stats import t as student_t

        cov, _, dof = _covariance(fit, x, y)
        half = float(student_t.ppf(0.5 + confidence / 2, max(dof, 1))) * np.sqrt(np.clip(np.diag(cov), 0, None))
        intervals = {n: [float(v - h), float(v + h)] for (n, v), h in zip(_params(fit).items(), half)}
    else:
        intervals = {n: [float(np.percentile(draws[:, j], tail)), float(np.percentile(draws[:, j], 100 - tail))]
                     for j, n in enumerate(names)}  # fmt: skip
    form = LOG_LINEAR if isinstance(fit, ScalingFit) else fit.form
    out = {"formula": FORMULAS[form], "params": _params(fit), "intervals": intervals, "r2": fit.r2, "points": fit.count}
    if isinstance(fit, PowerLawFit):
        out["exponent_at_bound"] = fit.at_bound
    if method == "bootstrap":
        out["failed_resamples"] = failed
    return out


def analyse_scaling(
    points: Sequence[ScalingPoint],
    power_form: str = "offset",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    laws: Sequence[str] = (LOG_LINEAR, POWER_LAW),
) -> dict:
    """Both laws (or those in ``laws``) on per-run points, with intervals, a leave-last-out check and warnings (a JSON-able dict).

    Intervals: when every amount has at least two runs (seeds), a bootstrap over seeds (the runs of
    each amount resampled with replacement, every law refitted, the refits' deviations from the fit
    scaled by sqrt(n / (n - 1)) for n runs per amount, percentile intervals); otherwise the
    least-squares covariance of the fit (Student t for the parameters, normal draws for the
    prediction). Leave-last-out: each law fitted on all but the largest amount predicts the mean loss
    of the largest amount's runs; its interval adds the residual scatter of that mean to the spread
    of the refits. Raises :class:`TooFewAmounts` below 3 different amounts; a form or the check that
    needs more amounts than there are is skipped with a warning, as is a loss that rises with more data.
    """
    if power_form not in POWER_FORMS:
        raise ValueError(f"unknown power-law form {power_form!r}; valid: {', '.join(POWER_FORMS)}")
    for law in laws:
        min_amounts(law)  # names an unknown law
    if not 0 < confidence < 1 or resamples < 10:
        raise ValueError(f"need 0 < confidence < 1 and resamples >= 10, got {confidence} and {resamples}")
    x, y = _check_xy([p.amount for p in points], [p.loss for p in points])
    unit = next((p.unit for p in points if p.unit), "")
    amounts = np.unique(x)
    if len(amounts) < 3:
        raise TooFewAmounts(f"a scaling analysis needs at least 3 different data amounts, got {len(amounts)}")
    groups = [np.flatnonzero(x == a) for a in amounts]
    means = [float(y[g].mean()) for g in groups]
    table = [{"amount": float(a), "runs": len(g), "mean_loss": m, "sd_loss": float(y[g].std(ddof=1)) if len(g) > 1 else None}
             for a, g, m in zip(amounts, groups, means)]  # fmt: skip
    warnings = [f"not monotone: the mean loss rises from {m0:.4g} at {a0:g} to {m1:.4g} at {a1:g} {unit}".rstrip()
                for a0, a1, m0, m1 in zip(amounts, amounts[1:], means, means[1:]) if m1 > m0]  # fmt: skip
    method = "bootstrap" if all(len(g) >= 2 for g in groups) else "covariance"
    if method == "covariance":
        warnings.append("some amounts have a single run: intervals come from the fit's covariance, not from seeds")
    rng = np.random.default_rng(seed)
    chosen, laws = tuple(laws), {}
    for law in chosen:
        need = min_amounts(law, power_form)
        if len(amounts) < need:
            warnings.append(f"{law}: needs at least {need} different amounts, got {len(amounts)}; not fitted")
            laws[law] = None
            continue
        fit = _fit(law, x, y, unit, power_form)
        draws, _, failed = _draws(law, fit, x, y, groups, method, resamples, rng, power_form)
        laws[law] = _law_summary(fit, draws, failed, confidence, method, x, y)
        if isinstance(fit, PowerLawFit) and fit.at_bound:
            warnings.append(f"power_law: the exponent {fit.exponent:.3g} is at the edge of the searched range "
                            "(0.001-10); these data do not identify the form")  # fmt: skip
    llo = _leave_last_out(x, y, amounts, unit, power_form, method, resamples, confidence, rng, warnings, chosen)
    if method == "bootstrap":
        interval_method = (f"bootstrap over seeds: the runs of each amount resampled with replacement, {resamples} resamples, "
                           f"deviations scaled by sqrt(n/(n-1)), percentile {100 * confidence:g} % intervals")  # fmt: skip
    else:
        interval_method = f"least-squares covariance of the fit (Student t), {100 * confidence:g} % intervals"
    return {"unit": unit, "confidence": confidence, "interval_method": interval_method, "method": method,
            "power_form": power_form, "amounts": table, "laws": laws, "leave_last_out": llo, "warnings": warnings}  # fmt: skip


def _leave_last_out(x, y, amounts, unit, form, method, resamples, confidence, rng, warnings, chosen) -> dict:
    last = amounts[-1]
    keep = x < last
    held = y[~keep]
    out: dict = {"fit_amounts": [float(a) for a in amounts[:-1]], "held_out_amount": float(last),
                 "held_out_runs": int(held.size), "observed_mean": float(held.mean()), "laws": {}}  # fmt: skip
    tail = 100 * (1 - confidence) / 2
    for law in chosen:
        need = min_amounts(law, form)
        if len(amounts) - 1 < need:
            warnings.append(f"leave-last-out {law}: needs {need} different amounts below the largest, "
                            f"got {len(amounts) - 1}; not checked")  # fmt: skip
            out["laws"][law] = None
            continue
        fit = _fit(law, x[keep], y[keep], unit, form)
        sub_groups = [np.flatnonzero(x[keep] == a) for a in amounts[:-1]]
        draws, sds, _ = _draws(law, fit, x[keep], y[keep], sub_groups, method, resamples, rng, form)
        predicted_draws = np.array([_rebuild(law, d, unit, form).predict(last) for d in draws])
        predicted_draws = predicted_draws + rng.normal(size=len(draws)) * sds / math.sqrt(held.size)
        predicted = float(fit.predict(last))
        low, high = float(np.percentile(predicted_draws, tail)), float(np.percentile(predicted_draws, 100 - tail))
        error = predicted - out["observed_mean"]
        out["laws"][law] = {"predicted": predicted, "interval": [low, high], "error": error,
                            "relative_error": error / out["observed_mean"] if out["observed_mean"] else None,
                            "observed_inside": bool(low <= out["observed_mean"] <= high)}  # fmt: skip
    return out


def scaling_result(
    points: Sequence[ScalingPoint], fit: ScalingFit, predict_at: Sequence[float] = (), analysis: dict | None = None
) -> dict:
    """JSON-able record of a fit, its points and predictions (and :func:`analyse_scaling`'s result when given)."""
    out = {
        "format": FORMAT,
        "law": "loss = intercept + slope * log10(amount)",
        "fit": asdict(fit),
        "points": [asdict(p) for p in points],
        "predictions": [{"amount": float(x), "loss": fit.predict(x)} for x in predict_at],
    }
    if analysis is not None:
        out["analysis"] = analysis
    return out


def analysis_lines(analysis: dict) -> list[str]:
    """Plain-text lines of :func:`analyse_scaling`'s result: each law with R^2 and intervals, the leave-last-out check, warnings."""
    unit = analysis["unit"]
    pct = f"{100 * analysis['confidence']:g} %"
    lines = [f"intervals: {analysis['interval_method']}"]
    for law, result in analysis["laws"].items():
        if result is None:
            continue
        params = ", ".join(f"{n} = {v:.4g} [{lo:.4g}, {hi:.4g}]" for (n, v), (lo, hi) in
                           zip(result["params"].items(), result["intervals"].values()))  # fmt: skip
        lines.append(
            f"{law}: {result['formula']}; R^2 = {result['r2']:.4f} over {result['points']} runs; {params} ({pct})"
        )
    llo = analysis["leave_last_out"]
    for law, result in llo["laws"].items():
        if result is None:
            continue
        inside = "inside" if result["observed_inside"] else "OUTSIDE"
        lines.append(f"leave-last-out {law}: fitted below {llo['held_out_amount']:g} {unit}, predicts {result['predicted']:.4g} "
                     f"[{result['interval'][0]:.4g}, {result['interval'][1]:.4g}] there; observed mean {llo['observed_mean']:.4g} "
                     f"over {llo['held_out_runs']} runs (error {result['error']:+.4g}, {inside} the interval)")  # fmt: skip
    lines += [f"warning: {w}" for w in analysis["warnings"]]
    return lines


def plot_scaling(
    points: Sequence[ScalingPoint], fit: ScalingFit, predict_at: Sequence[float] = (), analysis: dict | None = None
):
    """A matplotlib Figure: runs, the fitted log-linear law (log x axis), the power law when ``analysis`` has one, predictions marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    x = np.array([p.amount for p in points])
    y = np.array([p.loss for p in points])
    ax.scatter(x, y, color="tab:blue", zorder=3, label="runs")
    lo, hi = x.min(), max([x.max(), *predict_at])
    grid = np.logspace(np.log10(lo), np.log10(hi), 100)
    ax.plot(
        grid,
        fit.predict(grid),
        color="tab:orange",
        label=f"log-linear: {fit.intercept:.3g} {fit.slope:+.3g}·log10(x), R²={fit.r2:.4f}",
    )
    power = (analysis or {}).get("laws", {}).get(POWER_LAW)
    if power is not None:
        p = power["params"]
        law = PowerLawFit(
            p.get("c", 0.0), p["k"], p["alpha"], power["r2"], power["points"], fit.unit, analysis["power_form"]
        )
        offset = f"{law.offset:.3g} + " if law.form == "offset" else ""
        ax.plot(grid, law.predict(grid), color="tab:green", linestyle="--",
                label=f"power law: {offset}{law.scale:.3g}·x^-{law.exponent:.3g}, R²={law.r2:.4f}")  # fmt: skip
    for amount in predict_at:
        ax.scatter([amount], [fit.predict(amount)], marker="x", color="tab:red", zorder=3)
        ax.annotate(
            f"{fit.predict(amount):.3f}", (amount, fit.predict(amount)), textcoords="offset points", xytext=(5, 5)
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"data ({fit.unit})" if fit.unit else "data amount")
    ax.set_ylabel("validation loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
