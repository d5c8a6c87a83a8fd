"""The demo's report: the answer on top (SR per policy, losses, motion errors, loss curves), details folded below."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from dexego.demo.profile import LoadedProfile
from dexego.evaluate.html_page import figure_png, page, png_img, write_bytes_atomic, write_text_atomic
from dexego.evaluate.report import report_sections
from dexego.evaluate.results import BenchmarkResults, load_results
from dexego.evaluate.tables import MISSING, Table, benchmark_tables, number, percent, success_table

REPORT = "report.html"
FRAME_SCALE = 3  # simulator frames are 32-96 pixels: enlarge them (nearest) for the figures
MAX_EMBEDDED_VIDEO_BYTES = 4 * 1024 * 1024
MAX_OVERLAY_IMAGES = 12
EXPERT, HOLD = "expert", "hold"  # the demo's reference rows (dexego.demo.pipeline)
EXPERT_LABEL, HOLD_LABEL = "scripted expert (reference)", "hold still (baseline)"


def write_demo_report(loaded: LoadedProfile, out: Path, summary: dict) -> Path:
    """``OUT/report.html``: the answer first (SR per policy with the expert's as reference, held-out loss and motion
    errors with the hold-still baseline, the fine-tuning loss curves), then everything else folded."""
    results = out / "results"
    figures = results / "figures"
    tuned = [a["name"] for a in summary["arms"] if a.get("finetune", True)]
    write_bytes_atomic(figures / "finetune_loss_comparison.png", loss_comparison_png(results, tuned))
    write_bytes_atomic(figures / "dataset_frames.png", dataset_frames_png(out, loaded))
    for arm in summary["arms"]:
        strip = rollout_strip_png(results / "videos" / arm["name"])
        if strip is not None:
            write_bytes_atomic(figures / f"rollout_frames_{arm['name']}.png", strip)
    title = f"dexego demo ({summary['profile']} profile)"
    return write_text_atomic(out / REPORT, page(title, demo_report_body(summary, results)))


def demo_report_body(summary: dict, results: Path) -> str:
    generic = report_sections(results)
    by_kind: dict[str, list[str]] = {}
    for section in generic:
        by_kind.setdefault(section.kind, []).append(section.html)
    figures = results / "figures"
    parts = [metadata_html(summary), answer_html(summary, results)]
    what = [f"<p>{html.escape(description(summary))}</p>", timing_table(summary).to_html()]
    if (figures / "dataset_frames.png").is_file():
        what.append(png_img((figures / "dataset_frames.png").read_bytes(), "dataset frames",
                            "The middle frame of the first episode of each dataset: human (top) and robot demonstrations."))  # fmt: skip
    parts.append(folded("What was run: data, stages and wall times", "\n".join(what), open_=False))
    parts.append(folded("Every rollout", rollouts_html(summary, results)))
    parts.append(
        folded("Videos: rollouts (labelled success / failure) and held-out predictions", videos_html(summary, results))
    )
    per_task = benchmark_tables(arm_results(summary, results))[1:]  # the overview is the answer's SR table
    parts.append(folded("SR / PSR per task", "\n".join(t.to_html() for t in per_task)))
    for kind, title in (("motion", "Held-out motion errors in detail"),
                        ("training", "Training curves of every run"), ("scaling", "Scaling fits"),
                        ("config", "Configurations of every run"), ("skipped", "Skipped files")):  # fmt: skip
        if by_kind.get(kind):
            parts.append(folded(title, "\n".join(by_kind[kind])))
    overlays = sorted((results / "motion").glob("*_overlays/*.png"))
    if overlays:
        body = "".join(png_img(p.read_bytes(), str(p.relative_to(results)), str(p.relative_to(results)), min_width=320)
                       for p in overlays[:MAX_OVERLAY_IMAGES])  # fmt: skip
        parts.append(folded("Trajectory overlays on held-out robot frames (true: green, predicted: magenta)", body))
    return "\n".join(parts)


def folded(title: str, body_html: str, open_: bool = False) -> str:
    """A section that starts closed (``<details>``) with ``title`` as its heading."""
    return (f"<details{' open' if open_ else ''}><summary><h2 style=\"display:inline\">{html.escape(title)}</h2></summary>\n"
            f"{body_html}\n</details>")  # fmt: skip


def metadata_html(summary: dict) -> str:
    run = summary.get("run", {})
    cells = [f"profile {html.escape(summary['profile'])}", f"commit {html.escape(run.get('commit', '?'))}",
             f"machine {html.escape(run.get('machine', '?'))}", f"written {html.escape(run.get('date', '?'))}",
             f"wall time {summary.get('total_seconds', 0):.0f} s of stage work"]  # fmt: skip
    return f'<p class="meta" id="run-metadata">{" · ".join(cells)}</p>'


def description(summary: dict) -> str:
    if not summary["tasks"]["human"]:
        return (f"{summary['description']}. Robot demonstrations of {', '.join(summary['tasks']['robot'])} "
                f"({summary['episodes']['robot_per_task']} each) train every policy, without human data. They are "
                "evaluated in the simulator, with the scripted experts on the same rollouts as reference.")  # fmt: skip
    return (f"{summary['description']}. Human demonstrations of {', '.join(summary['tasks']['human'])} "
            f"({summary['episodes']['human_per_task']} episodes each) pretrain a policy; robot demonstrations of "
            f"{', '.join(summary['tasks']['robot'])} ({summary['episodes']['robot_per_task']} each) fine-tune it and, "
            "with the same fine-tuning budget, a policy without human pretraining. Both are evaluated in the simulator "
            "on seen and unseen room/table configurations, with the scripted experts on the same rollouts as reference.")  # fmt: skip


def arm_results(summary: dict, results: Path) -> list[BenchmarkResults]:
    """The benchmark results of every arm, then the scripted expert's (the rows of the answer's SR table)."""
    names = [a["name"] for a in summary["arms"]] + ([EXPERT] if summary.get("reference", {}).get(EXPERT) else [])
    return [load_results(results / "eval" / f"{name}.json") for name in names]


def sr_table(summary: dict, results: Path) -> Table:
    labels = [a["name"] for a in summary["arms"]] + [EXPERT_LABEL] * bool(summary.get("reference", {}).get(EXPERT))
    return success_table(arm_results(summary, results), "Success (SR) and progress (PSR) in the simulator", labels,
                         f"SR / PSR in percent, mean over the tasks; {rollout_counts(summary)}. The scripted expert ran "
                         "the same tasks, looks and seeds: the reference for what the task allows.")  # fmt: skip


def rollout_counts(summary: dict) -> str:
    arm = summary["arms"][0]
    return ", ".join(f"{e['rollouts']} {s} rollouts per policy" for s, e in arm["eval"].items())


def answer_html(summary: dict, results: Path) -> str:
    parts = ["<h2 id=\"answer\">Does human pretraining help? The answer of this run</h2>",
             "<ul class=\"findings\">" + "".join(f"<li>{html.escape(line)}</li>" for line in findings(summary)) + "</ul>",
             sr_table(summary, results).to_html()]  # fmt: skip
    if any("pooled" in a for a in summary["arms"]):
        parts.append(pooled_table(summary).to_html())
    if summary.get("paired"):
        parts.append(paired_table(summary).to_html())
    if summary.get("protocol"):
        parts.append(look_split_table(summary).to_html())
    header, rows = comparison_rows(summary)
    parts.append(Table("Held-out robot loss and motion errors", header, tuple(rows),
                       "Loss after fine-tuning on held-out robot episodes; wrist and fingertip errors over the 1 s chunk "
                       "on a held-out robot episode. Holding still predicts the current hands at every future step: "
                       "a policy has to beat it to show it learned the motion.").to_html())  # fmt: skip
    figure = results / "figures" / "finetune_loss_comparison.png"
    if figure.is_file():
        parts.append(png_img(figure.read_bytes(), "fine-tuning loss with and without human pretraining",
                             "Robot fine-tuning with the same budget: held-out robot loss (solid) and training loss "
                             "(dotted), with and without human pretraining."))  # fmt: skip
    return '<section id="answer-section">' + "\n".join(parts) + "</section>"


SPLIT_NAMES = {"seen": "seen (robot looks)", "human": "human-covered looks", "unseen": "never-seen looks"}


def pooled_table(summary: dict) -> Table:
    """SR per arm and look split as pooled k/n over every task and rollout, with the Wilson 95 % interval."""
    splits = [s for s in summary["arms"][0].get("pooled", {})]
    header = ("policy",) + tuple(SPLIT_NAMES.get(s, s) for s in splits)
    rows = []
    for arm in summary["arms"]:
        cells = [arm["name"]]
        for s in splits:
            q = arm["pooled"][s]
            cells.append(f"{q['k']}/{q['n']} = {100 * q['rate']:.0f} % [{100 * q['low']:.0f}, {100 * q['high']:.0f}]")
        rows.append(tuple(cells))
    return Table("Success per look split: pooled k/n with 95 % Wilson interval", header, tuple(rows),
                 "k successes of n rollouts pooled over the tasks; [low, high] = Wilson 95 % confidence interval of the "
                 "success rate. Seen = the robot demonstrations' looks; human-covered = looks only the human data shows; "
                 "never-seen = looks no training data contains.")  # fmt: skip


def paired_table(summary: dict) -> Table:
    rows = tuple((t["a"], t["b"], SPLIT_NAMES.get(t["split"], t["split"]), str(t["pairs"]), str(t["a_only"]), str(t["b_only"]),
                  f"{t['p_value']:.3g}") for t in summary["paired"])  # fmt: skip
    return Table("Paired test on identical rollouts (exact McNemar)", ("A", "B", "split", "paired rollouts",
                 "only A succeeded", "only B succeeded", "two-sided p"), rows,
                 "Both policies ran the same tasks, looks and seeds; under 'no difference' each discordant rollout goes "
                 "either way with probability 1/2 (exact binomial test on the discordant pairs).")  # fmt: skip


def look_split_table(summary: dict) -> Table:
    protocol = summary["protocol"]
    rows = tuple(
        (name, str(len(looks)), " ".join(f"({r},{t})" for r, t in looks))
        for name, looks in protocol["look_split"].items()
    )
    note = (f"(room, table) looks. Checked from the recorded metadata: {protocol['training_episodes']} training episodes "
            f"use none of the evaluation-only looks and none of the {protocol['evaluation_rollouts']} evaluation rollouts' seeds "
            f"(training seeds {protocol['training_seeds'][0]}..{protocol['training_seeds'][1]}, evaluation seeds "
            f"{protocol['evaluation_seeds'][0]}..{protocol['evaluation_seeds'][1]}).")  # fmt: skip
    return Table("Look split of this run", ("looks", "count", "(room, table)"), rows, note)


def timing_table(summary: dict) -> Table:
    return Table("Wall time per stage (seconds, of the run that did the work)", ("stage", "seconds"),
                 tuple((t["stage"], f"{t['seconds']:.1f}") for t in summary["timings"]))  # fmt: skip


def rollouts_html(summary: dict, results: Path) -> str:
    rows = []
    for result_name in [a["name"] for a in summary["arms"]] + [EXPERT] * bool(summary.get("reference", {}).get(EXPERT)):
        path = results / "eval" / f"{result_name}.json"
        if not path.is_file():
            continue
        for r in json.loads(path.read_text())["rollouts"]:
            rows.append((result_name, r["task"], r["split"], str(r["seed"]), f"room {r.get('room', '?')}, table {r.get('table', '?')}",
                         "success" if r["success"] else "failure", f"{r['subtasks_done']}/{r['subtasks_total']}",
                         str(r.get("steps", "")), r.get("failure_reason") or ""))  # fmt: skip
    header = ("policy", "task", "split", "seed", "look", "result", "subtasks done", "steps", "failure reason")
    return Table(f"{len(rows)} rollouts", header, tuple(rows), "Rollouts of equal task, split and seed start from the "
                 "same object layout and look for every policy.").to_html()  # fmt: skip


def videos_html(summary: dict, results: Path) -> str:
    figures = []
    for arm in summary["arms"]:
        name = arm["name"]
        overlay = results / "motion" / f"{name}_overlay.mp4"
        figures.append(embedded_video(overlay, f"{html.escape(name)} on a held-out robot episode: true future wrist and "
                                               "fingertip paths (green) and the predicted ones (magenta) from each frame"))  # fmt: skip
        outcome = _rollout_outcomes(results / "eval" / f"{name}.json")
        for video in sorted((results / "videos" / name).glob("*.mp4")):
            success = outcome.get(video.stem)
            label = ("<span class=\"success\">success</span>" if success else "<span class=\"failure\">failure</span>"
                     if success is not None else "outcome unknown")  # fmt: skip
            figures.append(embedded_video(video, f"{label}: rollout of {html.escape(name)}, {html.escape(video.stem)}; "
                                                 "magenta: the chunk the policy predicted at its latest query",
                                          outcome=None if success is None else ("success" if success else "failure")))  # fmt: skip
    figures = [f for f in figures if f]
    return (
        '<div class="videos">' + "".join(figures) + "</div>" if figures else '<p class="note">No videos were kept.</p>'
    )


def _rollout_outcomes(path: Path) -> dict[str, bool]:
    """``{task}_{split}_{seed}`` (the video file names of ``dexego.sim.evaluation``) -> success."""
    if not path.is_file():
        return {}
    return {
        f"{r['task']}_{r['split']}_{r['seed']}": bool(r["success"]) for r in json.loads(path.read_text())["rollouts"]
    }


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

    from dexego.drawing.overlay import encode_png

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
    """Held-out robot loss and motion errors per arm, and the hold-still baseline's motion errors (SR: :func:`sr_table`)."""
    header = ("policy", "human pretraining", "robot data", "val robot loss (last)", "val robot loss (lowest)",
              "held-out wrist err cm", "held-out fingertip err cm")  # fmt: skip
    rows = []
    for arm in summary["arms"]:
        rows.append((arm["name"], "yes" if arm["pretrained"] else "no", f"{round(100 * arm['robot_fraction'])} %",
                     number(arm["val_robot_loss_last"], 3), number(arm.get("val_robot_loss_best"), 3),
                     number(arm["motion"]["wrist_cm"], 2), number(arm["motion"]["fingertip_cm"], 2)))  # fmt: skip
    hold = summary.get("reference", {}).get(HOLD)
    if hold:
        rows.append(
            (
                HOLD_LABEL,
                MISSING,
                MISSING,
                MISSING,
                MISSING,
                number(hold["wrist_cm"], 2),
                number(hold["fingertip_cm"], 2),
            )
        )
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
    expert = summary.get("reference", {}).get(EXPERT)
    if expert:
        lines.append(
            "The scripted expert on the same rollouts: "
            + "; ".join(f"{s} SR {percent(e['sr'])} %, PSR {percent(e['psr'])} %" for s, e in expert.items())
            + "."
        )
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
            lines.append(
                f"Held-out robot loss after fine-tuning: {la:.3f} with human pretraining vs {lb:.3f} without ({better} with pretraining)."
            )
        lines += significance(summary, with_h["name"], without["name"])
        ma, mb = with_h["motion"]["wrist_cm"], without["motion"]["wrist_cm"]
        if ma is not None and mb is not None:
            hold = (summary.get("reference", {}).get(HOLD) or {}).get("wrist_cm")
            still = f"; holding still: {hold:.2f} cm" if hold is not None else ""
            lines.append(f"Wrist error over the 1 s chunk on held-out robot episodes: {ma:.2f} cm with human pretraining "
                         f"vs {mb:.2f} cm without{still}.")  # fmt: skip
    return lines


FULL_EVIDENCE = "experiments/human_transfer (3 training seeds per arm, 4 tasks)"


def significance(summary: dict, a: str, b: str, alpha: float = 0.05) -> list[str]:
    """One plain sentence per split on whether the paired difference between arms a and b is significant."""
    lines = []
    for t in summary.get("paired", []):
        if {t["a"], t["b"]} != {a, b}:
            continue
        split = SPLIT_NAMES.get(t["split"], t["split"])
        if t["p_value"] < alpha:
            lines.append(f"{split}: the difference is significant at this budget (exact McNemar p = {t['p_value']:.3g}, "
                         f"{t['a_only']} vs {t['b_only']} discordant rollouts of {t['pairs']}).")  # fmt: skip
        else:
            lines.append(f"{split}: at this budget the difference is not significant (exact McNemar p = {t['p_value']:.3g}, "
                         f"{t['a_only']} vs {t['b_only']} discordant rollouts of {t['pairs']}); {FULL_EVIDENCE} is the "
                         "experiment sized to show it.")  # fmt: skip
    return lines


def embedded_video(path: Path, caption_html: str, outcome: str | None = None) -> str:
    """A looping MP4 inside the page (data URI), or nothing when it is missing or too large to embed.

    ``outcome`` ("success" / "failure") labels the video itself as well as its caption."""
    if not path.is_file() or path.stat().st_size > MAX_EMBEDDED_VIDEO_BYTES:
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mark = f' data-outcome="{outcome}" title="{outcome}"' if outcome else ""
    return (f"<figure><video controls loop muted width=\"320\" style=\"image-rendering:pixelated\"{mark} "
            f"src=\"data:video/mp4;base64,{data}\"></video><figcaption>{caption_html}</figcaption></figure>")  # fmt: skip


def summary_text(summary: dict, results: Path | None = None) -> str:
    results = Path(summary["out"]) / "results" if results is None else results
    header, rows = comparison_rows(summary)
    sr = sr_table(summary, results).to_markdown().split("\n", 2)[2]  # without the "### " title line
    table = sr.strip() + "\n\n" + Table("", header, tuple(rows)).to_markdown().split("\n", 2)[2]
    timings = "  ".join(f"{t['stage']} {t['seconds']:.0f}s" for t in summary["timings"])
    return "\n".join([
        f"== dexego demo ({summary['profile']}) ==", table.strip(), *(f"- {line}" for line in findings(summary)),
        f"stage times: {timings}", f"total {summary['total_seconds']:.0f} s of work; report: {Path(summary['out']) / REPORT}",
    ])  # fmt: skip


def read_summary(out: Path) -> dict[str, Any]:
    return json.loads((Path(out) / "summary.json").read_text())
