"""(c) Regression (EgoVLA) vs flow matching (VITRA) vs motion tokens (METIS) heads on the same data.

The same tiny backbone, human training episodes, optimiser and step count for
each head; the motion-token head uses a residual-VQ tokenizer fitted on the
training episodes' action chunks. All heads share one action normaliser. The
comparison is on held-out human episodes in metric units (the heads' training
losses are not comparable): wrist position error (cm), wrist rotation error
(deg) and fingertip error (cm) over the 1 s chunk, from ``dexego.evaluate``'s
motion metrics. Uses the human demonstrations of the scaling experiment
(recorded on demand).

    nice -n 10 .venv/bin/python experiments/action_heads/run.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
TASKS = ["Push-Box", "Stack-Can", "Stack-Can-Left", "Close-Drawer-Left", "Flip-Mug"]
HEADS = ["regression", "flow", "tokens"]


def fit_tokenizer(splits, samples, stats, out_dir: Path, overrides: list[str]):
    """A residual-VQ tokenizer on the normalised action chunks of the training episodes (saved to ``out_dir``)."""
    import numpy as np

    from dexego.actions import Normalizer, get_space
    from dexego.data import SampleConfig, SampleSource
    from dexego.tokenizers.fit import fit_tokenizer as fit
    from dexego.tokenizers.fit import round_trip_report

    small = SampleConfig(**{**samples.__dict__, "image_size": (16, 16)})  # chunks only: decode tiny frames
    chunks, valid = [], []
    for s in splits:
        source = SampleSource(s.path, small, s.train, s.path.name)
        for ep in s.train:
            for sample in source.samples(ep, source.anchors[ep]):
                chunks.append(sample["actions"])
                valid.append(sample["action_valid"])
    chunks, valid = np.stack(chunks).astype(np.float64), np.stack(valid)
    normaliser = Normalizer(stats, "mean_std", skip=get_space("ego48").part_mask("wrist_rot6d"))
    normalised = normaliser.normalize(chunks).astype(np.float32)
    normalised = np.where(np.repeat(valid, chunks.shape[-1] // 2, axis=-1), normalised, 0.0)
    if out_dir.is_dir():  # fitted by an earlier run of this script: its token-head run was trained with it
        from dexego.tokenizers import load_tokenizer

        tokenizer = load_tokenizer(out_dir)
    else:
        tokenizer = fit("rvq", normalised, overrides=overrides)
        tokenizer.save(out_dir)
    report = round_trip_report(tokenizer, normalised)
    common.log(f"tokenizer: {len(chunks)} chunks; {report.summary()}")
    return tokenizer, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=22, help="human episodes recorded per task")
    parser.add_argument("--eval-samples", type=int, default=0, help="held-out samples evaluated (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokenizer-steps", type=int, default=600)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="stage config override for every head, e.g. loop.max_steps=100",
    )
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    import torch

    from dexego.train import load_stage_config
    from dexego.train.build import policy_config, sample_config

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    paths = [common.record(task, common.WORK / "human", args.episodes, "human") for task in TASKS]
    template = load_stage_config(HERE / "stage.toml", args.overrides)
    splits = common.split_datasets(paths, template.data.val_fraction, template.data.split_seed)
    stats = common.pooled_action_stats(template, paths)
    samples = sample_config(template, policy_config(template))
    runs = common.WORK / ("runs" if not args.overrides else "runs_overridden")
    token_dir = runs / "heads" / "rvq_tokenizer"
    t0 = time.perf_counter()
    tokenizer, token_report = fit_tokenizer(splits, samples, stats, token_dir,
                                            [f"train_steps={args.tokenizer_steps}", "hidden=256", "codebook_size=256", "batch_size=128"])  # fmt: skip
    tokenizer_seconds = time.perf_counter() - t0
    train = [(s.path, s.train) for s in splits]
    val = {"val_human": [(s.path, s.val) for s in splits]}
    rows = []
    for head in HEADS:
        run_dir = runs / "heads" / head
        config = load_stage_config(HERE / "stage.toml", [f"output_dir={run_dir}", f"name={head}", f"model.head={head}",
                                                          f"model.tokens.tokenizer_dir={token_dir}", *args.overrides])  # fmt: skip
        common.log(f"head {head} -> {run_dir}")
        t0 = time.perf_counter()
        policy, result = common.train_run(config, train, val, stats, tokenizer=tokenizer if head == "tokens" else None)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics = evaluate(policy, splits, samples, args.eval_samples)
        rows.append({"head": head, "parameters": sum(p.numel() for p in policy.parameters()),
                     "train_seconds": round(train_seconds, 1), "eval_seconds": round(time.perf_counter() - t0, 1),
                     "final_train_loss": result.last_train_loss, "val_human_loss": result.val_losses.get("val_human"),
                     "motion": metrics})  # fmt: skip
        common.log(
            f"{head}: wrist {metrics['overall']['wrist_cm']:.2f} cm, fingertips {metrics['overall']['fingertip_cm']:.2f} cm"
        )
    from dexego.evaluate import HoldCurrentPose

    t0 = time.perf_counter()
    metrics = evaluate(HoldCurrentPose(horizon=template.model.horizon), splits, samples, args.eval_samples)
    rows.append({"head": "hold (baseline)", "parameters": 0, "train_seconds": 0.0, "eval_seconds": round(time.perf_counter() - t0, 1),
                 "final_train_loss": None, "val_human_loss": None, "motion": metrics})  # fmt: skip
    write_results(
        Path(args.out), rows, template, splits, token_report, tokenizer_seconds, args, time.perf_counter() - start
    )
    return 0


def evaluate(policy, splits, samples, limit: int) -> dict:
    """Motion metrics of ``policy`` on every held-out sample, one chunk per sample (deterministic order)."""
    from dexego.data import SampleSource
    from dexego.evaluate import MotionEvalConfig, evaluate_motion

    def held_out():
        for s in splits:
            source = SampleSource(s.path, samples, s.val, s.path.name)
            for ep in s.val:
                yield from source.samples(ep, source.anchors[ep])

    import torch

    if isinstance(policy, torch.nn.Module):
        policy.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        return evaluate_motion(policy, held_out(), MotionEvalConfig(space="ego48", max_samples=limit))


def write_results(out: Path, rows, template, splits, token_report, tokenizer_seconds, args, seconds: float) -> None:
    from matplotlib.figure import Figure

    from dexego.config import to_dict
    from dexego.evaluate.html_page import figure_png, write_bytes_atomic

    keys = [("wrist_cm", "wrist cm"), ("rotation_deg", "wrist rotation deg"), ("fingertip_cm", "fingertips cm")]
    common.write_json(out / "results.json", {
        "experiment": "regression vs flow vs motion-token heads on the same human data",
        "command": common.command_line(), "tasks": TASKS, "episodes_recorded_per_task": args.episodes,
        "train_episodes": sum(len(s.train) for s in splits), "val_episodes": sum(len(s.val) for s in splits),
        "tokenizer": {"kind": "rvq", "round_trip_rmse_normalised": token_report.rmse, "tokens_per_chunk": token_report.mean_tokens,
                      "fit_seconds": round(tokenizer_seconds, 1)},
        "heads": rows, "stage_config": to_dict(template), "machine": common.machine(), "wall_seconds": round(seconds, 1),
    })  # fmt: skip
    header = "| head | parameters | " + " | ".join(label for _, label in keys) + " | held-out samples | train s |"
    lines = [
        "# Action heads on the same data", "",
        f"Tasks: {', '.join(TASKS)}; {sum(len(s.train) for s in splits)} training and {sum(len(s.val) for s in splits)} held-out "
        f"human episodes; every head: the same tiny backbone and {template.loop.max_steps} steps. Errors are means over the "
        "1 s chunk (30 steps) on held-out episodes (lower is better). Baseline: hold the current hand pose for the whole chunk.", "",
        header, "|---|---:|" + "---:|" * len(keys) + "---:|---:|",
    ]  # fmt: skip
    for r in rows:
        o = r["motion"]["overall"]
        lines.append(f"| {r['head']} | {r['parameters']:,} | " + " | ".join(f"{o[k]:.2f}" for k, _ in keys)
                     + f" | {o['samples']} | {r['train_seconds']:.0f} |")  # fmt: skip
    lines += ["", f"Residual-VQ tokenizer round trip: RMSE {token_report.rmse:.4f} (normalised units), "
              f"{token_report.mean_tokens:.0f} tokens per chunk.", "", f"Wall time {seconds / 60:.1f} min.", ""]  # fmt: skip
    (out / "results.md").write_text("\n".join(lines))
    fig = Figure(figsize=(9, 3))
    axes = fig.subplots(1, len(keys))
    for ax, (key, label) in zip(axes, keys):
        ax.bar(
            [r["head"] for r in rows],
            [r["motion"]["overall"][key] for r in rows],
            color=[f"C{i}" for i in range(len(rows))],
        )
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(label, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Held-out human motion error by action head (lower is better)", fontsize=10)
    write_bytes_atomic(out / "heads.png", figure_png(fig))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
