"""`dexego retarget`: Map human hand motion onto a robot hand and arm."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retarget",
        help="Add robot joint trajectories (hands, and arms when the robot has them) to the human episodes of a dataset.",
        description="Retarget every human episode of DATASET onto a robot and write the result to a new dataset.",
    )
    parser.add_argument("dataset", help="input dataset folder (human episodes)")
    parser.add_argument("--robot", required=True, help="built-in robot or hand name (e.g. h1_inspire) or a robot/hand .yaml file")
    parser.add_argument("--out", required=True, help="output dataset folder (must not exist)")
    parser.add_argument("--no-arms", action="store_true", help="retarget the hands only")
    parser.add_argument("--anchor", choices=("knuckles", "wrist"), default="knuckles", help="where the robot hand is placed on the human hand")
    parser.add_argument("--smoothness", type=float, default=None, help="temporal smoothness weight of the hand optimiser")
    parser.add_argument(
        "--unreachable",
        type=float,
        default=None,
        metavar="FRACTION",
        help="flag a frame whose mean fingertip error exceeds this fraction of the robot hand's length (default 0.15)",
    )
    parser.set_defaults(handler=_retarget)


def _retarget(args) -> int:
    from dataclasses import replace

    from dexego.retarget.dataset import DatasetRetargetConfig, retarget_dataset

    config = DatasetRetargetConfig(arms=not args.no_arms, anchor=args.anchor)
    if args.smoothness is not None:
        config = replace(config, hand=replace(config.hand, smoothness=args.smoothness))
    if args.unreachable is not None:
        config = replace(config, hand=replace(config.hand, unreachable_fraction=args.unreachable))
    totals = retarget_dataset(args.dataset, args.robot, args.out, config, progress=True)
    print(
        f"wrote {args.out}: {totals['episodes']} episodes, {totals['frames']} frames; "
        f"hand-frames without a hand {totals['missing_frames']}, unreachable {totals['unreachable_frames']}"
    )
    for side, hand in totals["hands"].items():
        fingers = ", ".join(
            f"{finger} {1000 * v['median']:.1f} / {1000 * v['p95']:.1f}" for finger, v in hand["fingertip_error_m"].items() if v is not None
        )
        print(
            f"{side} hand: fingertip distance from the targets after the solve (how far they were from reachable), "
            f"median / 95th percentile in mm: {fingers or 'no frames'}; a frame is unreachable above "
            f"{1000 * hand['unreachable_threshold_m']:.1f} mm mean ({hand['unreachable_threshold_m'] / hand['hand_length_m']:.2f} x the "
            f"robot hand's length, {1000 * hand['hand_length_m']:.0f} mm)"
        )
    return 0
