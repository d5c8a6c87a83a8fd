"""A self-contained HTML report of a training run or experiment directory.

It gathers what it recognises in RUN_DIR (searched up to three folders deep):

- ``metrics.jsonl`` (:mod:`dexego.evaluate.metrics_log`): loss/metric curves per split
  and a table of the last and best values;
- ``config.json`` / ``config.toml``: the run configuration as a table;
- motion metrics JSON (``dexego eval motion``): summary tables and the error-vs-step plot;
- benchmark results JSON (``dexego sim eval``, :mod:`dexego.evaluate.results`): SR/PSR tables;
- scaling fit JSON (``dexego eval scaling``): the fit table and plot;
- PNG images (e.g. trajectory overlays): embedded as they are.

Checkpoint folders (``checkpoints/``, ``final/``) and ``tensorboard/`` are not searched.

Every image is embedded as base64 PNG; the page needs no server and loads
nothing from elsewhere.
"""

from __future__ import annotations

import html
import json
import math
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dexego.errors import InputError
from dexego.evaluate import motion as motion_mod
from dexego.evaluate import scaling as scaling_mod
from dexego.evaluate.html_page import PNG_SIGNATURE, figure_png, page, png_img
from dexego.evaluate.metrics_log import FILENAME as METRICS_FILENAME
from dexego.evaluate.metrics_log import MetricsLog, read_metrics
from dexego.evaluate.results import BenchmarkResults, drop_parts, parse_results
from dexego.evaluate.tables import Table, benchmark_tables, number
from dexego.utils.files import read_json, write_text_atomic

REPORT_NAME = "report.html"
MAX_DEPTH = 3
MAX_IMAGES = 48
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_CURVES = 12
MIN_IMAGE_WIDTH = 320  # small frames (e.g. 96-pixel model inputs) are shown enlarged
# Folders of a training run that hold weights and their bookkeeping, not results (dexego.train's layout).
SKIPPED_DIRS = frozenset({"checkpoints", "final", "tensorboard"})


@dataclass(frozen=True)
class ReportConfig:
    """Options of :func:`build_report`: page title and the most images embedded."""

    title: str = ""
    max_images: int = MAX_IMAGES


def write_report(run_dir: str | Path, out: str | Path | None = None, config: ReportConfig = ReportConfig()) -> Path:
    """Build the report of ``run_dir`` and write it (default ``RUN_DIR/report.html``) atomically."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_NAME
    return write_text_atomic(out, build_report(run_dir, config, exclude=out))


def build_report(run_dir: str | Path, config: ReportConfig = ReportConfig(), exclude: Path | None = None) -> str:
    run_dir = Path(run_dir)
    sections = report_sections(run_dir, config, exclude)
    if not sections:
        raise InputError(run_dir, None, "nothing to report: no metrics.jsonl, config, results JSON or PNG images found")
    title = config.title or f"dexego report: {run_dir.resolve().name}"
    return page(title, "\n".join(s.html for s in sections))


@dataclass(frozen=True)
class Section:
    """One part of a report: ``kind`` (training, config, motion, scaling, benchmark, images, skipped) and its HTML."""

    kind: str
    html: str


def report_sections(
    run_dir: str | Path, config: ReportConfig = ReportConfig(), exclude: Path | None = None
) -> list[Section]:
    """What :func:`build_report` shows of ``run_dir``, section by section (a page built around them may fold or reorder)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(run_dir, None, "run directory not found")
    files = sorted(_walk(run_dir), key=lambda p: (len(p.relative_to(run_dir).parts), str(p)))
    if exclude is not None:
        files = [f for f in files if f.resolve() != exclude.resolve()]
    sections: list[Section] = []

    metrics_files = [f for f in files if f.name == METRICS_FILENAME]
    for path in metrics_files:
        sections.append(Section("training", _training_section(read_metrics(path), run_dir)))
    for path in files:
        if path.name in ("config.json", "config.toml"):
            sections.append(Section("config", _config_section(path, run_dir)))

    benchmark: list[BenchmarkResults] = []
    skipped: list[str] = []
    for path in files:
        if path.suffix != ".json" or path.name == "config.json":
            continue
        data = read_json(path)
        if not isinstance(data, dict):
            continue
        kind = data.get("format")
        if kind == motion_mod.FORMAT:
            sections.append(Section("motion", _motion_section(data, path, run_dir)))
        elif kind == scaling_mod.FORMAT:
            sections.append(Section("scaling", _scaling_section(data, path, run_dir)))
        elif "rollouts" in data or "tasks" in data:
            try:
                benchmark.append(parse_results(data, path))
            except InputError as exc:  # some other JSON with a "tasks" key: say so, do not fail the report
                skipped.append(f"{path.relative_to(run_dir)}: not benchmark results ({exc.problem})")
    benchmark = drop_parts(benchmark)  # per-split files beside the merged one are not extra policies
    if benchmark:
        body = "".join(t.to_html() for t in benchmark_tables(benchmark))
        sources = ", ".join(html.escape(str(Path(r.source).relative_to(run_dir))) for r in benchmark)
        sections.append(Section("benchmark", f'<h2>Benchmark</h2>\n<p class="note">From {sources}</p>\n{body}'))

    images = [f for f in files if f.suffix.lower() == ".png"]
    if images:
        sections.append(Section("images", _images_section(images, run_dir, config.max_images)))
    if skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
        sections.append(Section("skipped", f'<h2>Skipped files</h2>\n<ul class="note">{items}</ul>'))
    return sections


def _walk(root: Path, depth: int = 0) -> Iterator[Path]:
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or (entry.is_dir() and entry.name in SKIPPED_DIRS):
            continue
        if entry.is_dir() and depth < MAX_DEPTH:
            yield from _walk(entry, depth + 1)
        elif entry.is_file():
            yield entry


def _rel(path: Path, root: Path) -> str:
    return html.escape(str(path.relative_to(root)))


def _training_section(log: MetricsLog, root: Path) -> str:
    from matplotlib.figure import Figure

    where = log.path.parent.relative_to(root)
    heading = "Training" if where == Path(".") else f"Training: {html.escape(str(where))}"
    parts = [f'<h2>{heading}</h2>\n<p class="note">From {_rel(log.path, root)}: {len(log.records)} records.</p>']
    names = log.metric_names()
    names = (["loss"] if "loss" in names else []) + [n for n in names if n != "loss"]
    rows = []
    for name in names:
        for split in log.splits():
            steps, values = log.series(split, name)
            if values:
                rows.append((name, split, str(len(values)), str(steps[-1]), _fmt(values[-1]), _fmt(min(values))))
    if rows:
        parts.append(
            Table(
                "Metrics (last and lowest value)",
                ("metric", "split", "points", "last step", "last", "lowest"),
                tuple(rows),
            ).to_html()
        )
    plots = []
    for name in names[:MAX_CURVES]:
        fig = Figure(figsize=(7, 3.2))
        ax = fig.add_subplot()
        positive = True
        span = []
        for split in log.splits():
            steps, values = log.series(split, name)
            if values:
                ax.plot(steps, values, marker="o" if len(values) < 30 else None, markersize=3, label=split)
                positive &= min(values) > 0
                span += [min(values), max(values)]
        if not span:
            continue
        if positive and max(span) / min(span) > 20:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
        plots.append(png_img(figure_png(fig), f"{name} curve", f"{name} per step"))
    parts += plots[:1]  # the loss; the other metrics folded
    if len(plots) > 1:
        parts.append(f"<details><summary>{len(plots) - 1} more curves ({html.escape(', '.join(names[1:MAX_CURVES]))})"
                     f"</summary>\n{''.join(plots[1:])}\n</details>")  # fmt: skip
    return "\n".join(parts)


def _config_section(path: Path, root: Path) -> str:
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"cannot parse: {exc}") from None
    rows = tuple((key, json.dumps(value) if not isinstance(value, str) else value) for key, value in _flatten(data))
    if not rows:
        rows = (("(empty)", ""),)
    where = html.escape(str(path.relative_to(root)))
    return (
        f"<h2>Configuration: {where}</h2>\n<details><summary>{len(rows)} settings</summary>\n"
        + Table(str(path.relative_to(root)), ("key", "value"), rows).to_html()
        + "</details>"
    )


def _flatten(data: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), data


_MOTION_COLUMNS = (
    ("wrist_cm", "wrist cm", 2),
    ("rotation_deg", "rotation deg", 1),
    ("fingertip_cm", "fingertips cm", 2),
    ("fingertip_local_cm", "fingertips (wrist frame) cm", 2),
    ("wrist_2d", "wrist 2D (norm.)", 3),
)


def _motion_row(label: str, summary: dict) -> tuple[str, ...]:
    return (label, str(summary.get("samples", "")), str(summary.get("hand_steps", ""))) + tuple(
        number(summary.get(key), digits) for key, _, digits in _MOTION_COLUMNS
    )


def _motion_section(data: dict, path: Path, root: Path) -> str:
    from matplotlib.figure import Figure

    header = ("group", "samples", "hand-steps") + tuple(title for _, title, _ in _MOTION_COLUMNS)
    try:
        rows = [_motion_row("all", data["overall"])]
        rows += [_motion_row(f"{side} hand", s) for side, s in data.get("by_hand", {}).items()]
        rows += [_motion_row(f"source: {k}", s) for k, s in data.get("by_source", {}).items()]
        task_rows = [_motion_row(k, s) for k, s in data.get("by_task", {}).items()]
        step_rows = [
            (f"step {step} ({int(step) / data['fps']:.2f} s)", "", "")
            + tuple(number(v.get(key), d) for key, _, d in _MOTION_COLUMNS)
            for step, v in data["overall"].get("at_step", {}).items()
        ]
        per_step = data["per_step"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(path, str(exc), "malformed motion metrics") from None
    parts = [
        f'<h2>Motion prediction: {_rel(path, root)}</h2>\n<p class="note">Predicted chunks against the recorded future of the dataset\'s samples (sources: {html.escape(", ".join(data.get("by_source", {})) or "unnamed")}); space {html.escape(str(data.get("space")))}, '
        f"horizon {data.get('horizon')} steps at {data.get('fps')} Hz.</p>",
        Table("Errors over the horizon", header, tuple(rows)).to_html(),
    ]
    if step_rows:
        parts.append(Table("Errors at chosen future steps", header, tuple(step_rows)).to_html())
    if task_rows:
        parts.append(Table("Errors per task", header, tuple(task_rows)).to_html())
    fig = Figure(figsize=(7, 3.2))
    axes = fig.subplots(1, 2)
    for ax, key, label in (
        (axes[0], "wrist_cm", "wrist error (cm)"),
        (axes[1], "rotation_deg", "rotation error (deg)"),
    ):
        values = [math.nan if v is None else v for v in per_step.get(key, [])]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=2)
        ax.set_xlabel("future step")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    parts.append(png_img(figure_png(fig), "motion error per future step", "Error against look-ahead step"))
    return "\n".join(parts)


def _scaling_section(data: dict, path: Path, root: Path) -> str:
    try:
        fit = scaling_mod.ScalingFit(**data["fit"])
        points = [scaling_mod.ScalingPoint(**p) for p in data["points"]]
        predictions = [(float(p["amount"]), float(p["loss"])) for p in data.get("predictions", [])]
    except (KeyError, TypeError) as exc:
        raise InputError(path, str(exc), "malformed scaling fit") from None
    rows = [
        ("intercept a", _fmt(fit.intercept)),
        ("slope b (per 10x data)", _fmt(fit.slope)),
        ("R²", f"{fit.r2:.4f}"),
        ("points", str(fit.count)),
    ]
    rows += [(f"predicted loss at {amount:g} {fit.unit}", _fmt(loss)) for amount, loss in predictions]
    analysis = data.get("analysis")
    fig = scaling_mod.plot_scaling(
        points, fit, [a for a, _ in predictions], analysis if isinstance(analysis, dict) else None
    )
    parts = [
        f'<h2>Scaling law</h2>\n<p class="note">From {_rel(path, root)}: loss = a + b·log10(amount).</p>',
        Table("Log-linear fit", ("quantity", "value"), tuple(rows)).to_html(),
    ]
    if isinstance(
        analysis, dict
    ):  # dexego eval scaling's analysis: both laws, intervals, leave-last-out check, warnings
        try:
            lines = scaling_mod.analysis_lines(analysis)
        except (KeyError, TypeError, IndexError) as exc:
            raise InputError(path, f"analysis: {exc}", "malformed scaling analysis") from None
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
    parts.append(png_img(figure_png(fig), "scaling law plot", "Validation loss against data amount"))
    return "\n".join(parts)


def _images_section(images: list[Path], root: Path, limit: int) -> str:
    parts = ["<h2>Images</h2>"]
    shown = 0
    for path in images:
        if shown >= limit:
            parts.append(f'<p class="note">{len(images) - shown} more images not shown.</p>')
            break
        data = path.read_bytes()
        if not data.startswith(PNG_SIGNATURE):
            raise InputError(path, None, "not a PNG file")
        if len(data) > MAX_IMAGE_BYTES:
            parts.append(f'<p class="note">{_rel(path, root)} skipped: larger than {MAX_IMAGE_BYTES // 2**20} MiB.</p>')
            continue
        parts.append(png_img(data, str(path.relative_to(root)), str(path.relative_to(root)), min_width=MIN_IMAGE_WIDTH))
        shown += 1
    return "\n".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.4g}"
