"""`dexego retarget`: Map human hand motion onto a robot hand and arm."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retarget",
        help="Add robot joint trajectories (hands, and arms when the robot has them) to the human episodes of a dataset.",
        description=(
            "dexego retarget DATASET --robot ROBOT --out OUT: retarget every human episode of DATASET onto a robot and "
            "write the result to a new dataset. "
            "dexego retarget init-hand DESCRIPTION [--side right] [--out hand.yaml]: propose a hand file from an MJCF/URDF "
            "and print what it chose and why. "
            "dexego retarget check-hand HAND.yaml [--out picture.png]: sample poses, report reach, the round trip and the "
            "wrist frame's stillness, and render the hand."
        ),
    )
    parser.add_argument("dataset", help="input dataset folder (human episodes), or init-hand / check-hand")
    parser.add_argument(
        "file", nargs="?", help="init-hand: the robot description (MJCF/URDF); check-hand: the hand file"
    )
    parser.add_argument("--robot", help="built-in robot or hand name (e.g. h1_inspire) or a robot/hand .yaml file")
    parser.add_argument(
        "--out", help="output dataset folder (must not exist); init-hand: the hand file; check-hand: the picture (PNG)"
    )
    parser.add_argument(
        "--side", choices=("left", "right"), default=None, help="init-hand: the hand's side (default: from its names)"
    )
    parser.add_argument("--samples", type=int, default=200, help="check-hand: joint configurations to sample")
    parser.add_argument("--no-arms", action="store_true", help="retarget the hands only")
    parser.add_argument(
        "--anchor",
        choices=("knuckles", "wrist"),
        default="knuckles",
        help="where the robot hand is placed on the human hand",
    )
    parser.add_argument(
        "--smoothness", type=float, default=None, help="temporal smoothness weight of the hand optimiser"
    )
    parser.add_argument(
        "--unreachable",
        type=float,
        default=None,
        metavar="FRACTION",
        help="flag a frame whose mean fingertip error exceeds this fraction of the robot hand's length (default 0.15)",
    )
    parser.set_defaults(handler=_retarget)


def _retarget(args) -> int:
    from dexego.errors import ConfigError

    if args.dataset == "init-hand":
        return _init_hand(args)
    if args.dataset == "check-hand":
        return _check_hand(args)
    if args.file is not None:
        raise ConfigError(
            f"unexpected argument {args.file!r} (init-hand and check-hand take a file; a dataset does not)"
        )
    if not args.robot or not args.out:
        raise ConfigError("dexego retarget DATASET needs --robot and --out")
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
            f"{finger} {1000 * v['median']:.1f} / {1000 * v['p95']:.1f}"
            for finger, v in hand["fingertip_error_m"].items()
            if v is not None
        )
        print(
            f"{side} hand: fingertip distance from the targets after the solve (how far they were from reachable), "
            f"median / 95th percentile in mm: {fingers or 'no frames'}; a frame is unreachable above "
            f"{1000 * hand['unreachable_threshold_m']:.1f} mm mean ({hand['unreachable_threshold_m'] / hand['hand_length_m']:.2f} x the "
            f"robot hand's length, {1000 * hand['hand_length_m']:.0f} mm)"
        )
    return 0


def _init_hand(args) -> int:
    from pathlib import Path

    from dexego.errors import ConfigError
    from dexego.retarget.hand_init import propose_hand, write_proposal

    if not args.file:
        raise ConfigError("dexego retarget init-hand needs the robot description (MJCF .xml or URDF .urdf)")
    proposal = propose_hand(args.file, side=args.side)
    for line in proposal.reasons:
        print(line)
    out = Path(args.out) if args.out else Path(f"{proposal.data['name']}.yaml")
    write_proposal(proposal, out)
    from dexego.retarget import RobotHand

    hand = RobotHand.from_yaml(out)  # the file loads: names resolve, the wrist frame is still
    print(
        f"wrote {out}: {hand.num_joints} actuated joints, fingertips {', '.join(k for k in proposal.data['keypoints'] if k.endswith('_tip'))}, "
        f"hand length {1000 * hand.hand_length:.0f} mm; check it with: dexego retarget check-hand {out}"
    )
    return 0


def _check_hand(args) -> int:
    from pathlib import Path

    import torch

    from dexego.errors import ConfigError
    from dexego.retarget import RobotHand
    from dexego.retarget.hand_init import check_hand, render_hand

    if not args.file:
        raise ConfigError("dexego retarget check-hand needs the hand file (.yaml)")
    if args.samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    hand = RobotHand.from_yaml(args.file, dtype=torch.float64)
    report = check_hand(hand, samples=args.samples)
    print(
        f"{hand.name} ({hand.side}): {hand.num_joints} actuated joints, hand length {1000 * report.hand_length_m:.0f} mm; "
        f"{report.samples} sampled poses"
    )
    for finger, r in report.reach.items():
        print(
            f"  reach {finger:7s} {1000 * r['min_m']:6.1f} - {1000 * r['max_m']:6.1f} mm from the wrist, workspace extent {1000 * r['extent_m']:6.1f} mm"
        )
    print(
        f"  round trip joints -> fingertips -> retarget: median {report.round_trip_mm['median']:.3f} mm, worst {report.round_trip_mm['max']:.3f} mm"
    )
    print(
        f"  wrist frame (wrist, index/middle/little MCP): moves at most {report.frame_motion_mm:.2e} mm over the samples"
    )
    print(
        f"  a retargeted frame is flagged unreachable above {1000 * report.unreachable_threshold_m:.1f} mm mean fingertip error"
    )
    out = Path(args.out) if args.out else Path(args.file).with_suffix(".png")
    render_hand(hand, out)
    print(
        f"wrote {out}: the hand at its lower limits, mid-range and upper limits (red: wrist frame points, green: fingertips)"
    )
    return 0
