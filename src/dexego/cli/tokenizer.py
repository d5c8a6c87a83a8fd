"""`dexego tokenizer`: Fit action tokenizers (residual VQ, FAST) for the motion-token head."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    group = add_group(subparsers, "tokenizer", "Fit action tokenizers (residual VQ, FAST) for the motion-token head.")
    fit = group.add_parser("fit", help="fit a tokenizer on a dataset's action chunks",
                           description="Fit a residual-VQ or FAST tokenizer on the normalised action chunks of DATASET.")  # fmt: skip
    fit.add_argument("dataset", metavar="DATASET", help="dataset root (LeRobot v3 layout written by dexego)")
    fit.add_argument("--kind", choices=("rvq", "fast", "dynamics"), required=True,
                     help="rvq / fast: hand-motion tokens from action chunks; dynamics: visual-dynamics tokens from frame "
                          "pairs --horizon steps (at 30 Hz) apart (METIS)")  # fmt: skip
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory (replaced atomically)")
    fit.add_argument("--horizon", type=int, default=30, help="steps per action chunk (the policy's horizon)")
    fit.add_argument("--action-space", default="ego48", help="action space of the chunks (ego48, kp21, mano)")
    fit.add_argument(
        "--normalization",
        default="mean_std",
        choices=("mean_std", "quantile", "min_max", "identity"),
        help="normalisation applied before tokenising (the policy's)",
    )
    fit.add_argument("--max-chunks", type=int, default=None, help="fit on at most this many chunks (random subset)")
    fit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="tokenizer config override, e.g. train_steps=500",
    )
    fit.set_defaults(handler=_fit)


def _fit(args: argparse.Namespace) -> int:
    if args.kind == "dynamics":
        from dexego.tokenizers.dynamics import fit_dataset_dynamics

        fit_dataset_dynamics(args.dataset, args.out, gap_s=args.horizon / 30.0, max_pairs=args.max_chunks or 2000,
                             overrides=args.set, log=print)  # fmt: skip
        return 0
    from dexego.tokenizers.fit import fit_dataset_tokenizer

    fit_dataset_tokenizer(args.dataset, args.kind, args.out, horizon=args.horizon, action_space=args.action_space,
                          normalization=args.normalization, max_chunks=args.max_chunks, overrides=args.set,
                          log=print)  # fmt: skip
    return 0
