"""`dexego eval`: Evaluate policies: human motion prediction, benchmark tables, scaling fits, reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    group = add_group(
        subparsers, "eval", "Evaluate policies: human motion prediction, benchmark tables, scaling fits, reports."
    )

    motion = group.add_parser("motion", help="Human hand motion prediction errors of a policy on a dataset.")
    motion.add_argument(
        "--policy",
        required=True,
        help="a training run, checkpoint or policy folder, or 'hold' for the hold-current-pose baseline",
    )
    motion.add_argument("--data", required=True, help="dataset directory")
    motion.add_argument("--out", help="write the metrics JSON here (default: print it)")
    motion.add_argument("--space", default="ego48", help="action space of the policy's predictions (default ego48)")
    motion.add_argument("--steps", type=int, nargs="+", default=[10, 20, 30], help="future steps reported on their own")
    motion.add_argument("--max-samples", type=int, default=0, help="stop after this many samples (0 = all)")
    motion.add_argument("--overlays", type=int, default=0, metavar="N", help="also save N overlay PNGs next to --out")
    motion.add_argument(
        "--overlay-video",
        metavar="PATH",
        help="also write an MP4 of one episode with the true (green) and predicted (magenta) chunks per frame",
    )
    motion.add_argument(
        "--video-episode", type=int, default=0, help="episode of the overlay video (index in the dataset)"
    )
    motion.add_argument("--video-stride", type=int, default=1, help="draw every N-th frame of the episode (default 1)")
    motion.set_defaults(handler=_motion)

    table = group.add_parser("table", help="Combine `dexego sim eval` results into SR/PSR comparison tables.")
    table.add_argument("results", nargs="+", help="results JSON files, one per policy")
    table.add_argument("--out", help="output file: .md for Markdown, .html for a page (default: Markdown on stdout)")
    table.set_defaults(handler=_table)

    scaling = group.add_parser(
        "scaling", help="Fit log-linear and power-law laws of validation loss against data amount; intervals, leave-last-out check, plot.",
        description="Fit validation loss against data amount with two laws, by least squares over every run:\n"
        "  log-linear  loss = a + b*log10(amount)   (EgoScale's law; b < 0 when more data helps)\n"
        "  power law   loss = c + k*amount^-alpha   (--power-form pure: loss = k*amount^-alpha)\n"
        "with R^2 of each, 95 % parameter intervals (a bootstrap over seeds when every amount has two or\n"
        "more runs, else the fit's covariance) and a leave-last-out check (fit below the largest amount,\n"
        "predict it). Several runs (seeds) at one amount are several points. See docs/scaling.md.\n\n"
        "Inputs (any mix, one point each unless a file holds several):\n"
        "  a training run folder (or its metrics.jsonl): the lowest validation loss of --split and the\n"
        "    data_hours (or data_episodes) value the trainer logged with it;\n"
        "  a JSON file: {\"unit\": \"hours\", \"points\": [{\"amount\": 10, \"loss\": 0.8, \"label\": \"...\"}, ...]}\n"
        "    or one point {\"amount\": 10, \"loss\": 0.8} (data_hours / data_episodes may replace amount and\n"
        "    give the unit; val_loss may replace loss);\n"
        "  a CSV file with a header holding amount (or data_hours / data_episodes) and loss (or val_loss).",
    )  # fmt: skip
    scaling.add_argument("results", nargs="+", help="points files (JSON/CSV) or run directories with metrics.jsonl")
    scaling.add_argument("--predict", type=float, nargs="*", default=[], help="data amounts to predict the loss at")
    scaling.add_argument("--out", help="write the fit JSON here (default: print it)")
    scaling.add_argument("--plot", help="save the plot as PNG here")
    scaling.add_argument("--split", help="validation split read from run directories (default: val, else val_human)")
    scaling.add_argument(
        "--power-form",
        choices=("offset", "pure"),
        default="offset",
        help="power law loss = c + k*N^-alpha (offset, default) or k*N^-alpha (pure)",
    )
    scaling.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples over seeds (default 1000)")
    scaling.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    scaling.set_defaults(handler=_scaling)

    report = group.add_parser("report", help="Self-contained HTML report of a training run or experiment directory.")
    report.add_argument("run_dir", help="run or experiment directory")
    report.add_argument("--out", help="output HTML (default RUN_DIR/report.html)")
    report.add_argument("--title", default="", help="report title")
    report.set_defaults(handler=_report)


def _emit_json(data: dict, out: str | None) -> None:
    from dexego.utils.files import write_text_atomic

    text = json.dumps(data, indent=2) + "\n"
    if out:
        write_text_atomic(out, text)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _motion(args: argparse.Namespace) -> int:
    from dexego.evaluate.dataset_motion import run_motion_eval
    from dexego.evaluate.motion import motion_summary_line

    result = run_motion_eval(
        policy=args.policy,
        data=args.data,
        space=args.space,
        steps=tuple(args.steps),
        max_samples=args.max_samples,
        overlays=args.overlays,
        overlay_dir=Path(args.out).with_suffix("") if args.out else None,
        overlay_video=args.overlay_video,
        video_episode=args.video_episode,
        video_stride=args.video_stride,
    )
    if args.overlay_video:
        print(f"wrote {args.overlay_video}", file=sys.stderr)
    print(motion_summary_line(result), file=sys.stderr)
    _emit_json(result, args.out)
    return 0


def _table(args: argparse.Namespace) -> int:
    from dexego.evaluate.html_page import page
    from dexego.evaluate.results import load_results
    from dexego.evaluate.tables import benchmark_tables, tables_to_markdown
    from dexego.utils.files import write_text_atomic

    tables = benchmark_tables([load_results(path) for path in args.results])
    if args.out and Path(args.out).suffix.lower() in (".html", ".htm"):
        write_text_atomic(args.out, page("Benchmark results", "\n".join(t.to_html() for t in tables)))
    elif args.out:
        write_text_atomic(args.out, tables_to_markdown(tables))
    else:
        sys.stdout.write(tables_to_markdown(tables))
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _scaling(args: argparse.Namespace) -> int:
    from dexego.errors import InputError
    from dexego.evaluate.html_page import figure_png
    from dexego.evaluate.scaling import (
        analyse_scaling,
        analysis_lines,
        fit_log_linear,
        load_points,
        plot_scaling,
        scaling_result,
    )
    from dexego.utils.files import write_bytes_atomic

    points = load_points(args.results, args.split)
    unit = next((p.unit for p in points if p.unit), "")
    if args.resamples < 10:
        raise InputError(None, "--resamples", f"need at least 10, got {args.resamples}")
    try:
        fit = fit_log_linear([p.amount for p in points], [p.loss for p in points], unit)
    except ValueError as exc:
        raise InputError(None, "points", str(exc)) from None
    if any(x <= 0 for x in args.predict):
        raise InputError(None, "--predict", "data amounts must be positive")
    analysis = None
    if len({p.amount for p in points}) >= 3:
        try:
            analysis = analyse_scaling(points, args.power_form, args.resamples, seed=args.seed)
        except ValueError as exc:
            raise InputError(None, "points", str(exc)) from None
        for line in analysis_lines(analysis):
            print(line, file=sys.stderr)
    else:
        print(
            f"loss = {fit.intercept:.4f} {fit.slope:+.4f} * log10(amount)  (R^2 = {fit.r2:.4f}, {fit.count} points)",
            file=sys.stderr,
        )
        print(
            "warning: fewer than 3 different amounts: no power law, intervals or leave-last-out check", file=sys.stderr
        )
    for amount in args.predict:
        print(f"predicted loss at {amount:g} {unit}: {fit.predict(amount):.4f} (log-linear)", file=sys.stderr)
    if args.plot:
        write_bytes_atomic(args.plot, figure_png(plot_scaling(points, fit, args.predict, analysis)))
        print(f"wrote {args.plot}", file=sys.stderr)
    _emit_json(scaling_result(points, fit, args.predict, analysis), args.out)
    return 0


def _report(args: argparse.Namespace) -> int:
    from dexego.evaluate.report import ReportConfig, write_report

    path = write_report(args.run_dir, args.out, ReportConfig(title=args.title))
    print(f"wrote {path}", file=sys.stderr)
    return 0
