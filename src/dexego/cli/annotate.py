"""`dexego annotate`: Turn raw egocentric video into a dataset: 3D hands, atomic segments, instructions."""

from __future__ import annotations

import argparse
import json

HELP = "Turn a directory of raw egocentric videos into a dataset: 3D hands, atomic segments, instructions."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "annotate", help=HELP, description=HELP + " Resumes: videos already in OUTPUT_DATASET are skipped.",
        epilog="The MediaPipe estimator needs `pip install -e '.[annotate]'` and a model bundle: "
        "`python -m dexego.annotate.estimators.fetch_model` (docs/annotate.md).",
    )  # fmt: skip
    parser.add_argument("video_dir", metavar="VIDEO_DIR", help="folder of raw egocentric videos")
    parser.add_argument("output", metavar="OUTPUT_DATASET", help="dataset folder to write (continued when it exists)")
    parser.add_argument("--hand-estimator", default=None, metavar="NAME",
                        help="mediapipe (default), oracle (ground truth next to each video, for tests) or package.module:Class")  # fmt: skip
    parser.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                        help="keyword option for the estimator (VALUE parsed as JSON when it can be)")  # fmt: skip
    parser.add_argument("--captioner", choices=("offline", "chat"), default=None,
                        help="offline leaves segments uncaptioned (they take the video's task text, else no language); chat uses --caption-endpoint")  # fmt: skip
    parser.add_argument(
        "--caption-endpoint", metavar="URL", help="OpenAI-compatible base URL (key from $DEXEGO_CAPTION_API_KEY)"
    )
    parser.add_argument(
        "--caption-model", metavar="NAME", help="model name sent to the --caption-endpoint (chat captioner)"
    )
    parser.add_argument(
        "--camera",
        default=None,
        metavar="MODE",
        help="auto (default), static, vo, or poses:PATH (a file, or a directory of <video stem>.npy)",
    )
    parser.add_argument(
        "--fov", type=float, metavar="DEG", help="horizontal field-of-view prior for videos without intrinsics"
    )
    parser.add_argument("--fps", type=int, help="output frame rate (default 30)")
    parser.add_argument("--config", metavar="TOML", help="an AnnotateConfig file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. segment.min_seconds=0.4"
    )
    parser.add_argument("--ray", metavar="ADDRESS", help="run as a Ray Data job ('local' starts a local Ray)")
    parser.add_argument("--workers", type=int, default=2, help="parallel Ray workers")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_annotate)


def _option(text: str) -> tuple[str, object]:
    from dexego.errors import ConfigError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--estimator-option needs KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def build_config(args) -> tuple[object, str | None]:
    """The AnnotateConfig from --config/--set and the flags, and the poses path (if any)."""
    from dexego.annotate.pipeline import AnnotateConfig
    from dexego.config import load_config
    from dexego.errors import ConfigError

    overrides = list(args.set)
    poses = None
    if args.hand_estimator:
        overrides.append(f"estimator={args.hand_estimator}")
    if args.camera:
        mode, _, path = args.camera.partition(":")
        if mode == "poses":
            if not path:
                raise ConfigError("--camera poses:PATH needs a path")
            poses = path
        elif path:
            raise ConfigError(f"--camera {args.camera!r}: only poses takes a path")
        overrides.append(f"camera.mode={mode}")
    if args.fov:
        overrides.append(f"camera.fov_deg={args.fov}")
    if args.fps:
        overrides.append(f"fps={args.fps}")
    if args.captioner == "chat" and not args.caption_endpoint:
        raise ConfigError("--captioner chat needs --caption-endpoint URL")
    if args.caption_endpoint and args.captioner != "offline":
        overrides.append(f"caption.endpoint={args.caption_endpoint}")
    if args.caption_model:
        overrides.append(f"caption.model={args.caption_model}")
    config = load_config(AnnotateConfig, args.config, overrides)
    if args.estimator_option:
        from dataclasses import replace

        config = replace(
            config, estimator_options={**config.estimator_options, **dict(map(_option, args.estimator_option))}
        )
    if config.camera.mode == "poses" and poses is None:
        raise ConfigError("camera mode poses needs --camera poses:PATH")
    return config, poses


def _annotate(args) -> int:
    from pathlib import Path

    from dexego.errors import InputError

    if not Path(args.video_dir).is_dir():
        raise InputError(
            args.video_dir, "VIDEO_DIR", "not found" if not Path(args.video_dir).exists() else "not a folder of videos"
        )
    config, poses = build_config(args)
    if args.ray:
        from dexego.annotate.ray_job import annotate_with_ray

        summary = annotate_with_ray(args.video_dir, args.output, config, args.ray, poses=poses, workers=args.workers)
    else:
        from dexego.annotate.run import annotate_directory

        summary = annotate_directory(args.video_dir, args.output, config, poses=poses, progress=not args.no_progress)
    return 1 if summary.failed and not summary.written and not summary.skipped else 0
