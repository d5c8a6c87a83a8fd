"""`dexego data`: Inspect, validate and view datasets (LeRobot v3 layout)."""

from __future__ import annotations

import argparse
import json
import sys

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    group = add_group(subparsers, "data", "Inspect, validate and view datasets (LeRobot v3 layout).")

    info = group.add_parser(
        "info",
        help="Episodes, frames, fps, features, tasks, sources and hours of a dataset.",
        description="Summarise a dataset after checking it with validate's rules (metadata, every data file's values, "
        "every video's size and frames). The first error found is printed as one line and the exit status is 2; "
        "warnings are left to `dexego data validate`, which lists every problem.",
    )
    info.add_argument("path", help="dataset folder")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.add_argument(
        "--no-decode",
        action="store_true",
        help="count video frames from the packets instead of decoding every frame (faster on large "
        "datasets; a video whose frames are damaged but whose packets are intact then passes)",
    )
    info.set_defaults(handler=_info)

    validate = group.add_parser(
        "validate",
        help="Check layout, schema, every video frame, NaN/inf and value ranges, timestamps, indices.",
        description="Check a dataset with the rules every dexego reader applies when it opens one (training refuses "
        "what this rejects, with the same message). Prints one line per problem; warnings (statistics readers "
        "recompute, optional LeRobot fields, the ignored tail of an interrupted write) do not fail. "
        "Exit status: 0 no errors, 1 errors found, 2 the path is not a readable dataset folder.",
    )
    validate.add_argument("path", help="dataset folder")
    validate.add_argument(
        "--no-decode", action="store_true", help="count video frames from the packets instead of decoding every frame"
    )
    validate.set_defaults(handler=_validate)

    view = group.add_parser(
        "view", help="Write a Rerun recording of one episode (video, 3D hands, camera, future paths)."
    )
    view.add_argument("path", help="dataset folder")
    view.add_argument("--episode", type=int, default=0, help="episode index in the dataset")
    view.add_argument("--out", required=True, help="output .rrd file")
    view.add_argument("--horizon", type=int, default=30, help="future steps drawn per frame")
    view.set_defaults(handler=_view)

    fit = group.add_parser(
        "fit-mano",
        help="Fit MANO (root pose + 15 PCA per hand) to each frame's keypoints; writes a new dataset with observation.hands.mano.",
    )
    fit.add_argument("path", help="the dexego dataset to fit")
    fit.add_argument(
        "--mano", required=True, help="folder with your MANO_LEFT.pkl and MANO_RIGHT.pkl (MANO is not shipped)"
    )
    fit.add_argument("--out", required=True, help="new dataset folder (must not exist); written atomically")
    fit.add_argument("--iterations", type=int, default=200, help="Adam steps of the fingertip fit")
    fit.set_defaults(handler=_fit_mano)


def _progress(path: str) -> None:  # one line per file, overwritten: large datasets take a while
    print(f"\rchecking {path}\033[K", end="", file=sys.stderr, flush=True)


def _info(args) -> int:
    from dexego.data.summary import dataset_summary, format_summary
    from dexego.data.validate import validate_report

    summary = dataset_summary(args.path)  # metadata errors stop here
    if summary["codebase_version"].startswith("v3"):  # v2.1 datasets are read, not validated (v3 rules)
        report = validate_report(args.path, _progress if sys.stderr.isatty() else None, decode=not args.no_decode)
        if sys.stderr.isatty():
            print("\r\033[K", end="", file=sys.stderr)
        if report.errors:
            raise report.errors[0].to_error()
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _validate(args) -> int:
    from pathlib import Path

    from dexego.data.validate import validate_report
    from dexego.errors import InputError

    if not Path(args.path).is_dir():
        raise InputError(
            args.path,
            None,
            "not a dataset folder (it does not exist)" if not Path(args.path).exists() else "not a folder",
        )

    report = validate_report(args.path, _progress if sys.stderr.isatty() else None, decode=not args.no_decode)
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    for problem in report.errors:
        print(problem)
    for problem in report.warnings:
        print(f"warning: {problem}")
    if report.errors:
        print(f"{len(report.errors)} problem(s) found", file=sys.stderr)
        return 1
    print(f"{args.path}: ok" + (f" ({len(report.warnings)} warning(s))" if report.warnings else ""))
    return 0


def _view(args) -> int:
    from dexego.data.view import record_episode

    out = record_episode(args.path, args.episode, args.out, horizon=args.horizon)
    print(f"wrote {out} (open with: rerun {out})")
    return 0


def _fit_mano(args) -> int:
    from dexego.errors import ConfigError
    from dexego.sources.mano_fit import ManoFitConfig, fit_mano_dataset

    if args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    summary = fit_mano_dataset(
        args.path, args.out, args.mano, ManoFitConfig(iterations=args.iterations), progress=sys.stderr.isatty()
    )
    error = summary["keypoint_error_mm"]
    print(f"wrote {args.out}: {summary['episodes']} episode(s), {summary['hands_fitted']} hand(s) fitted")
    if error["mean"] is not None:
        print(f"keypoint error (21 keypoints, MANO average shape vs input): mean {error['mean']:.2f} mm, "
              f"median {error['median']:.2f} mm, p95 {error['p95']:.2f} mm")  # fmt: skip
    return 0
