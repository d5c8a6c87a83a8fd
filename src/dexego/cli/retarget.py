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
    parser.set_defaults(handler=_retarget)


def _retarget(args) -> int:
    from dataclasses import replace

    from dexego.retarget.dataset import DatasetRetargetConfig, retarget_dataset

    config = DatasetRetargetConfig(arms=not args.no_arms, anchor=args.anchor)
    if args.smoothness is not None:
        config = replace(config, hand=replace(config.hand, smoothness=args.smoothness))
    totals = retarget_dataset(args.dataset, args.robot, args.out, config, progress=True)
    print(
        f"wrote {args.out}: {totals['episodes']} episodes, {totals['frames']} frames; "
        f"hand-frames without a hand {totals['missing_frames']}, unreachable {totals['unreachable_frames']}"
    )
    return 0
