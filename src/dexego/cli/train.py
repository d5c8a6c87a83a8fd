"""`dexego train CONFIG.toml [--set key=value ...]`: train one stage of a recipe."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="Train a policy from a stage config.",
        description="Train one stage (pretrain, midtrain or finetune) from a TOML config. Re-running the same "
        "command continues from the output directory's last checkpoint; with changed settings it is an error naming "
        "them (--overwrite starts again). Several GPUs or nodes: "
        "`accelerate launch -m dexego train CONFIG.toml` (see docs/training.md).",
    )
    parser.add_argument(
        "config",
        help="stage config: a TOML or JSON file, or a built-in name from `dexego config list` (e.g. cpu/pretrain)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set loop.max_steps=20 --set optimizer.lr=3e-4",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check the config and the datasets, print the resolved config and exit",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="the output folder holds a run: delete its checkpoints, final/, logs and config.json and "
        "train from the start (without it, a run trained with other settings is an error)",
    )
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from dexego.config import to_dict
    from dexego.train.build import check_inputs, run_stage
    from dexego.train.config import load_stage_config

    config = load_stage_config(args.config, args.overrides)
    check_inputs(config)  # config mistakes, missing datasets or init_from weights: before anything starts
    if not args.overwrite:  # a run trained with other settings is never resumed: before data is prepared
        from dexego.train.run_folder import check_resume_config

        check_resume_config(config.output_path, json.loads(json.dumps(to_dict(config))))
    if args.check:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    if args.overwrite:
        from dexego.train.run_folder import clear_run

        for path in clear_run(config.output_path):
            print(f"removed {path}")
    result = run_stage(config)
    if result.already_finished:
        print(f"{config.name}: already finished at step {result.steps}; final weights in {result.final_dir}")
        return 0
    summary = {
        "stage": config.name,
        "steps": result.steps,
        "epochs": result.epochs_completed,
        "train_loss": result.last_train_loss,
        **{f"{k}_loss": v for k, v in result.val_losses.items()},
        "samples_per_s": round(result.samples_per_second, 2),
        "final": str(result.final_dir) if result.final_dir else None,
    }
    print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0
