"""(a) EgoVLA's ablation: human pretraining vs none vs half the robot data, on the simulator benchmark.

Runs the ``dexego demo`` pipeline with the profile in ``profile/`` (three arms
with the same fine-tuning budget) and writes its comparison as tables and a
plot: SR/PSR on seen and unseen configurations, the held-out robot loss, and
the motion errors on held-out robot episodes.

    nice -n 10 .venv/bin/python experiments/pretraining_ablation/run.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    from dexego.demo import DemoOptions, run_demo
    from dexego.demo.report import comparison_rows, findings
    from dexego.evaluate.html_page import write_bytes_atomic

    work = common.WORK / "ablation"
    summary = run_demo(HERE / "profile", work, DemoOptions(workers=args.workers, progress=False), log=common.log)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary["command"] = common.command_line()
    summary["machine"] = common.machine()
    common.write_json(out / "results.json", summary)
    header, rows = comparison_rows(summary)
    lines = ["# Human pretraining vs none vs half the robot data", "", summary["description"] + ".", "",
             "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1),
             *("| " + " | ".join(row) + " |" for row in rows), "", *(f"- {line}" for line in findings(summary)), "",
             f"Wall time {summary['total_seconds'] / 60:.1f} min of stage work (per stage in results.json).", ""]  # fmt: skip
    (out / "results.md").write_text("\n".join(lines))
    write_bytes_atomic(out / "ablation.png", plot(summary))
    shutil.copy(work / "results" / "figures" / "finetune_loss_comparison.png", out / "finetune_loss_comparison.png")
    shutil.copy(work / "results" / "figures" / "dataset_frames.png", out / "dataset_frames.png")
    overlays = sorted((work / "results" / "motion" / f"{summary['arms'][0]['name']}_overlays").glob("*.png"))
    if overlays:  # true (green) vs predicted (magenta) future hand paths on a held-out robot frame
        shutil.copy(overlays[-1], out / "overlay_example.png")
    print("\n".join(lines))
    return 0


def plot(summary: dict) -> bytes:
    from matplotlib.figure import Figure

    from dexego.evaluate.html_page import figure_png

    arms = summary["arms"]
    splits = list(arms[0]["eval"])
    fig = Figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 3)
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        x = [j + i * width for j in range(len(splits))]
        axes[0].bar(x, [100 * arm["eval"][s]["sr"] for s in splits], width, label=arm["name"], color=f"C{i}")
        axes[1].bar(x, [100 * arm["eval"][s]["psr"] for s in splits], width, color=f"C{i}")
    for ax, title in ((axes[0], "SR %"), (axes[1], "PSR %")):
        ax.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(splits))], splits)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, 100)
    axes[2].bar(
        [a["name"] for a in arms], [a["val_robot_loss_last"] for a in arms], color=[f"C{i}" for i in range(len(arms))]
    )
    axes[2].set_title("held-out robot loss (last)", fontsize=10)
    axes[2].tick_params(axis="x", labelrotation=20, labelsize=7)
    axes[0].legend(fontsize=7)
    return figure_png(fig)


if __name__ == "__main__":
    sys.exit(main())
