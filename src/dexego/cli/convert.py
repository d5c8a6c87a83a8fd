"""`dexego convert SOURCE INPUT_DIR OUTPUT_DATASET`: turn an external dataset into a dexego dataset."""

from __future__ import annotations

import argparse

SOURCES = (
    "egodex",
    "hot3d",
    "hoi4d",
    "taco",
    "holoassist",
    "arctic",
    "dexycb",
    "lerobot",
)  # = dexego.sources.SOURCE_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="Convert an external dataset (EgoDex, HOT3D, HOI4D, TACO, HoloAssist, ARCTIC, DexYCB, LeRobot) into a dexego dataset.",
        description="Convert an external dataset into a dexego dataset (LeRobot v3.0 layout, ego48 hands). "
        "Re-running on the same output resumes: sequences already converted are skipped.",
    )
    parser.add_argument("source", choices=SOURCES, help="the dataset's name")
    parser.add_argument("input_dir", help="the dataset's root folder, as downloaded")
    parser.add_argument("output", help="the dexego dataset to create or continue")
    parser.add_argument(
        "--mano-dir",
        default=None,
        help="folder with MANO_LEFT.pkl and MANO_RIGHT.pkl (needed by hoi4d, taco, arctic and hot3d clips; optional for dexycb, where it adds the MANO feature, and for hot3d full sequences, whose hands are otherwise read from UmeTrack)",
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel parsing processes (default 1)")
    parser.add_argument("--max-frames", type=int, default=None, help="keep at most this many frames per sequence")
    parser.add_argument(
        "--camera",
        default=None,
        help="lerobot: the video key to keep, e.g. observation.images.top (default: the first)",
    )
    parser.add_argument(
        "--robot",
        default=None,
        help="lerobot: the robot description (a robot YAML or a built-in name) whose joints the dataset records",
    )
    parser.add_argument(
        "--map",
        default=None,
        dest="joint_map",
        help="lerobot: TOML mapping the dataset's state/action columns to the robot's joints and giving the camera pose "
        "(see dexego.sources.lerobot_robot); with --robot, hands come from forward kinematics",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dexego.errors import ConfigError, InputError
    from dexego.sources.base import SourceOptions
    from dexego.sources.convert import convert

    if (args.robot or args.joint_map) and args.source != "lerobot":
        raise ConfigError("--robot and --map are options of the lerobot source")
    options = SourceOptions(
        mano_dir=Path(args.mano_dir) if args.mano_dir else None,
        max_frames=args.max_frames,
        camera=args.camera,
        robot=args.robot,
        joint_map=Path(args.joint_map) if args.joint_map else None,
    )
    summary = convert(args.source, args.input_dir, args.output, options, workers=max(1, args.workers))
    print(summary.report())
    if not (summary.converted or summary.already_present):
        # every sequence was refused: bad input, reported like any other (exit 2)
        sid, reason = summary.skipped[0]
        raise InputError(args.input_dir, None, f"no sequence converted; {sid}: {reason}")
    return 0
