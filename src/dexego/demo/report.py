"""The demo's report: comparison figures, a summary section on top of :func:`dexego.evaluate.build_report`."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from dexego.demo.profile import LoadedProfile
from dexego.evaluate.html_page import figure_png, write_bytes_atomic, write_text_atomic
from dexego.evaluate.report import ReportConfig, build_report
from dexego.evaluate.tables import Table, number, percent

REPORT = "report.html"
FRAME_SCALE = 3  # simulator frames are 32-96 pixels: enlarge them (nearest) for the figures
MAX_EMBEDDED_VIDEO_BYTES = 4 * 1024 * 1024


def write_demo_report(loaded: LoadedProfile, out: Path, summary: dict) -> Path:
    results = out / "results"
    figures = results / "figures"
    write_bytes_atomic(figures / "finetune_loss_comparison.png", loss_comparison_png(results, [a["name"] for a in summary["arms"]]))
    write_bytes_atomic(figures / "dataset_frames.png", dataset_frames_png(out, loaded))
    for arm in summary["arms"]:
        strip = rollout_strip_png(results / "videos" / arm["name"])
        if strip is not None:
            write_bytes_atomic(figures / f"rollout_frames_{arm['name']}.png", strip)
    page = build_report(results, ReportConfig(title=f"dexego demo ({summary['profile']} profile)"))
    head, sep, rest = page.partition("</h1>\n")
    return write_text_atomic(out / REPORT, head + sep + summary_html(summary, results) + rest)


# ----------------------------------------------------------------------------------------------- figures
def loss_comparison_png(results: Path, arms: list[str]) -> bytes:
    """Robot fine-tuning of every arm on one plot: held-out robot loss (solid) and training loss (dotted)."""
    from matplotlib.figure import Figure

    from dexego.evaluate.metrics_log import read_metrics

    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    for i, arm in enumerate(arms):
        log = read_metrics(results / "runs" / arm / "metrics.jsonl")
        color = f"C{i}"
        for split, style in (("val_robot", "-"), ("train", ":")):
            steps, values = log.series(split, "loss")
            if values:
                ax.plot(steps, values, style, color=color, marker="o" if split == "val_robot" else None, markersize=3,
                        label=f"{arm} ({split})")  # fmt: skip
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Robot fine-tuning, same budget: with and without human pretraining")
    return figure_png(fig)


def _enlarge(image: np.ndarray, scale: int = FRAME_SCALE) -> np.ndarray:
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def _labelled_grid(tiles: list[tuple[str, np.ndarray]], columns: int) -> bytes:
    from PIL import Image, ImageDraw

    from dexego.evaluate.overlay import encode_png

    h, w = tiles[0][1].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = Image.new("RGB", (columns * w, rows * (h + 14)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (label, tile) in enumerate(tiles):
        x, y = (i % columns) * w, (i // columns) * (h + 14)
        canvas.paste(Image.fromarray(tile), (x, y + 14))
        draw.text((x + 2, y + 1), label[: max(4, w // 6)], fill=(0, 0, 0))
    return encode_png(np.asarray(canvas))


def dataset_frames_png(out: Path, loaded: LoadedProfile) -> bytes:
    """The middle frame of the first episode of each dataset: what the human and robot data look like."""
    from dexego.data import Dataset

    p = loaded.profile
    tiles = []
    for kind, tasks in (("human", p.data.human_tasks), ("robot", p.data.robot_tasks)):
        for task in tasks:
            data = Dataset(out / "data" / kind / task)
            length = int(data.episode_lengths[0])
            tiles.append((f"{kind}: {task}", _enlarge(data.frames(0, [length // 2])[0])))
            data.close()
    return _labelled_grid(tiles, columns=min(4, len(tiles)))


def rollout_strip_png(video_dir: Path, count: int = 6) -> bytes | None:
    """``count`` evenly spaced frames of the first rollout video in ``video_dir``."""
    import av

    videos = sorted(video_dir.glob("*.mp4")) if video_dir.is_dir() else []
    if not videos:
        return None
    with av.open(str(videos[0])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return _labelled_grid([(f"step {i}", _enlarge(frames[i])) for i in picks], columns=count)


# ----------------------------------------------------------------------------------------------- summary
def comparison_rows(summary: dict) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    splits = list(summary["arms"][0]["eval"])
    header = ("policy", "human pretraining", "robot data") + tuple(f"{s} {m}" for s in splits for m in ("SR %", "PSR %")) + (
        "val robot loss (last)", "val robot loss (lowest)", "held-out wrist err cm", "held-out fingertip err cm")
    rows = []
    for arm in summary["arms"]:
        cells = [arm["name"], "yes" if arm["pretrained"] else "no", f"{round(100 * arm['robot_fraction'])} %"]
        for s in splits:
            cells += [percent(arm["eval"][s]["sr"]), percent(arm["eval"][s]["psr"])]
        cells += [number(arm["val_robot_loss_last"], 3), number(arm.get("val_robot_loss_best"), 3), number(arm["motion"]["wrist_cm"], 2), number(arm["motion"]["fingertip_cm"], 2)]
        rows.append(tuple(cells))
    return header, rows


def findings(summary: dict) -> list[str]:
    """Plain statements of what was measured, whatever it shows."""
    arms = summary["arms"]
    splits = list(arms[0]["eval"])
    lines = []
    rollouts = {s: arms[0]["eval"][s]["rollouts"] for s in splits}
    counts = ", ".join(f"{n} {s}" for s, n in rollouts.items())
    lines.append(f"Each policy ran {counts} rollouts on {', '.join(summary['tasks']['robot'])}; "
                 f"one success more or less moves SR by {100 / max(1, min(rollouts.values())):.0f} points.")  # fmt: skip
    if all(a["eval"][s]["sr"] == 0 for a in arms for s in splits):
        lines.append("No policy completed the task in any rollout (SR 0 for all): this profile's training budget is far "
                     "too small to learn the task. Compare PSR (subtask progress), the held-out robot loss and the motion "
                     "errors instead, and run the full profile for benchmark numbers.")  # fmt: skip
    with_h = next((a for a in arms if a["pretrained"] and a["robot_fraction"] >= 1), None)
    without = next((a for a in arms if not a["pretrained"] and a["robot_fraction"] >= 1), None)
    if with_h and without:
        for s in splits:
            a, b = with_h["eval"][s], without["eval"][s]
            lines.append(f"{s}: SR {percent(a['sr'])} % with human pretraining vs {percent(b['sr'])} % without; "
                         f"PSR {percent(a['psr'])} % vs {percent(b['psr'])} %.")  # fmt: skip
        la, lb = with_h["val_robot_loss_last"], without["val_robot_loss_last"]
        if la is not None and lb is not None:
            better = "lower" if la < lb else "higher" if la > lb else "equal"
            lines.append(f"Held-out robot loss after fine-tuning: {la:.3f} with human pretraining vs {lb:.3f} without ({better} with pretraining).")
        ma, mb = with_h["motion"]["wrist_cm"], without["motion"]["wrist_cm"]
        if ma is not None and mb is not None:
            lines.append(f"Wrist error over the 1 s chunk on held-out robot episodes: {ma:.2f} cm vs {mb:.2f} cm.")
    return lines


def summary_html(summary: dict, results: Path) -> str:
    header, rows = comparison_rows(summary)
    timing = Table("Wall time per stage (seconds, of the run that did the work)", ("stage", "seconds"),
                   tuple((t["stage"], f"{t['seconds']:.1f}") for t in summary["timings"]))  # fmt: skip
    parts = [
        "<h2>Summary</h2>",
        f"<p>{html.escape(summary['description'])}. Human demonstrations of {html.escape(', '.join(summary['tasks']['human']))} "
        f"({summary['episodes']['human_per_task']} episodes each) pretrain a policy; robot demonstrations of "
        f"{html.escape(', '.join(summary['tasks']['robot']))} ({summary['episodes']['robot_per_task']} each) fine-tune it and, "
        "with the same fine-tuning budget, a policy without human pretraining. Both are evaluated in the simulator on seen "
        "and unseen room/table configurations.</p>",
        Table("Policies compared", header, tuple(rows), "SR = success rate, PSR = subtask progress rate.").to_html(),
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in findings(summary)) + "</ul>",
        timing.to_html(),
    ]
    for arm in summary["arms"]:
        name = html.escape(arm["name"])
        overlay = results / "motion" / f"{arm['name']}_overlay.mp4"
        parts.append(embedded_video(overlay, f"{name} on a held-out robot episode: true future wrist and fingertip paths "
                                             "(green) and the predicted ones (magenta) from each frame"))  # fmt: skip
        videos = sorted((results / "videos" / arm["name"]).glob("*.mp4"))
        if videos:
            parts.append(embedded_video(videos[0], f"Rollout of {name}: {html.escape(videos[0].name)}; magenta: the "
                                                   "chunk the policy predicted at its latest query"))  # fmt: skip
    return "\n".join(parts) + "\n"


def embedded_video(path: Path, caption_html: str) -> str:
    """A looping MP4 inside the page (data URI), or nothing when it is missing or too large to embed."""
    if not path.is_file() or path.stat().st_size > MAX_EMBEDDED_VIDEO_BYTES:
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><video controls loop muted width=\"320\" style=\"image-rendering:pixelated\" "
            f"src=\"data:video/mp4;base64,{data}\"></video><figcaption>{caption_html}</figcaption></figure>")  # fmt: skip


def summary_text(summary: dict) -> str:
    header, rows = comparison_rows(summary)
    table = Table("", header, tuple(rows)).to_markdown().split("\n", 2)[2]  # without the "### " title line
    timings = "  ".join(f"{t['stage']} {t['seconds']:.0f}s" for t in summary["timings"])
    return "\n".join([
        f"== dexego demo ({summary['profile']}) ==", table.strip(), *(f"- {line}" for line in findings(summary)),
        f"stage times: {timings}", f"total {summary['total_seconds']:.0f} s of work; report: {Path(summary['out']) / REPORT}",
    ])  # fmt: skip


def read_summary(out: Path) -> dict[str, Any]:
    return json.loads((Path(out) / "summary.json").read_text())
