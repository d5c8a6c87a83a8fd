"""`dexego demo`: Run the whole story: human pretraining, robot fine-tuning, evaluation, report."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="Run the whole story: human pretraining, robot fine-tuning, evaluation, report.",
        description="Record synthetic human and robot demonstrations in the simulator, pretrain on the human data, "
        "fine-tune on the robot data, evaluate against the same model without human pretraining on seen and unseen "
        "configurations, and write OUT/report.html. Re-running the same command skips finished stages.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="the small profile (2-7 minutes on a 2-core laptop, idle / busy)"
    )
    size.add_argument(
        "--profile",
        default=None,
        help="a built-in profile (micro, quick, full; default full) or a folder holding demo.toml",
    )
    parser.add_argument("--out", default="dexego-demo", help="output folder (default: ./dexego-demo)")
    parser.add_argument("--workers", type=int, default=1, help="processes for recording demonstrations and rollouts")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: fastest on a small CPU shared with other work)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a demo.toml value, e.g. --set eval.rollouts=4",
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from dexego.demo import DemoOptions, run_demo
    from dexego.errors import ConfigError

    if args.workers < 1 or args.threads < 1:
        raise ConfigError("--workers and --threads must be >= 1")
    profile = "quick" if args.quick else (args.profile or "full")
    run_demo(profile, args.out, DemoOptions(workers=args.workers, threads=args.threads), args.overrides)
    return 0
