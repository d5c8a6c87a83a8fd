"""Replicates of the full demo profile with other seeds, and the table over all seeds.

Seed 0 is the committed run in ``results/`` (``dexego demo``, the built-in full profile unchanged).
Seed s > 0 is the same profile with other demonstrations (data seed 10·s, so no episode is shared
with another replicate or with a held-out set) and another training seed (s: initialisation,
batch order, augmentation) for pretraining and fine-tuning; the evaluation protocol (rollout seeds
and looks) is the same for every replicate.

    python experiments/full_demo/replicates.py --seeds 1 2 --runs /tmp/reps   # ~25-45 min per seed, 2 cores

Each replicate runs ``dexego demo`` into RUNS/seed<s> (resumed if interrupted); its summary and the
two policies' simulator results are copied into ``results/seed<s>/``; ``results/replicates.md`` and
``results/replicates.json`` then hold every seed's figures and their mean and standard deviation.

The matched-compute control (``matched_steps/``: robot data only, 2800 steps = the pretrained arm's
2000 + 800, seed 0's data and rollout seeds) is run on its own and added to the table with

    dexego demo --profile experiments/full_demo/matched_steps --out runs/full_matched_steps
    python experiments/full_demo/replicates.py --seeds --matched runs/full_matched_steps
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import log, machine  # noqa: E402

RESULTS = HERE / "results"
FIGURES = (  # (column, how to read it from one arm of a demo summary)
    ("seen SR %", lambda arm: 100 * arm["eval"]["seen"]["sr"]),
    ("seen PSR %", lambda arm: 100 * arm["eval"]["seen"]["psr"]),
    ("unseen SR %", lambda arm: 100 * arm["eval"]["unseen"]["sr"]),
    ("unseen PSR %", lambda arm: 100 * arm["eval"]["unseen"]["psr"]),
    ("held-out robot loss", lambda arm: arm["val_robot_loss_last"]),
    ("held-out wrist error cm", lambda arm: arm["motion"]["wrist_cm"]),
)


def replicate_profile(seed: int, folder: Path) -> Path:
    """The built-in full profile with data seed 10*seed and training seed ``seed``, written to ``folder``."""
    from dexego.demo.profile import resolve_profile_dir

    source = resolve_profile_dir("full")
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.toml"):
        text = path.read_text()
        if path.name == "demo.toml":
            text = re.sub(r'^name = "full"$', f'name = "full-seed{seed}"', text, flags=re.M)
            text, n = re.subn(r"^seed = 0$", f"seed = {10 * seed}", text, flags=re.M)
        else:
            text, n = re.subn(r"^seed = 0$", f"seed = {seed}", text, flags=re.M)
        if n != 1:
            raise RuntimeError(f"{path}: expected one 'seed = 0' line to replace, found {n}")
        (folder / path.name).write_text(text)
    return folder


def run_replicate(seed: int, runs: Path, workers: int) -> dict:
    from dexego.demo.pipeline import DemoOptions, run_demo

    out = runs / f"seed{seed}"
    profile = replicate_profile(seed, runs / f"profile_seed{seed}")
    log(f"seed {seed}: dexego demo --profile {profile} --out {out}")
    summary = run_demo(profile, out, DemoOptions(workers=workers))
    target = RESULTS / f"seed{seed}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / "summary.json", target / "summary.json")
    for arm in summary["arms"]:  # the simulator results of each policy, seen and unseen
        shutil.copy(out / "results" / "eval" / f"{arm['name']}.json", target / f"{arm['name']}.json")
    return summary


def table(summaries: dict[int, dict]) -> tuple[str, dict]:
    arms = list(dict.fromkeys(arm["name"] for summary in summaries.values() for arm in summary["arms"]))
    rows, stats = [], {}
    header = "| policy | seed | " + " | ".join(name for name, _ in FIGURES) + " |"
    rows += [header, "|---|---:|" + "---:|" * len(FIGURES)]
    for arm_name in arms:
        per_seed = {}
        for seed, summary in sorted(summaries.items()):
            arm = next((a for a in summary["arms"] if a["name"] == arm_name), None)
            if arm is None:
                continue
            per_seed[seed] = [read(arm) for _, read in FIGURES]
            rows.append(
                f"| {arm_name} | {seed} | "
                + " | ".join(f"{v:.1f}" if v >= 10 else f"{v:.2f}" for v in per_seed[seed])
                + " |"
            )
        columns = list(zip(*per_seed.values()))
        mean = [statistics.fmean(c) for c in columns]
        sd = [statistics.stdev(c) if len(c) > 1 else float("nan") for c in columns]
        if len(per_seed) > 1:
            rows.append(f"| **{arm_name}** | mean ± sd ({len(per_seed)} seeds) | "
                        + " | ".join(f"**{m:.1f} ± {s:.1f}**" if abs(m) >= 10 else f"**{m:.2f} ± {s:.2f}**" for m, s in zip(mean, sd)) + " |")  # fmt: skip
        stats[arm_name] = {
            "per_seed": per_seed,
            "mean": dict(zip([n for n, _ in FIGURES], mean)),
            "sd": dict(zip([n for n, _ in FIGURES], sd)),
        }
    return "\n".join(rows) + "\n", stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[1, 2], help="replicate seeds to run (0 is the committed run)"
    )
    parser.add_argument(
        "--runs", type=Path, default=HERE.parent / ".work" / "full_demo", help="where the replicate runs go"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--matched", type=Path, default=None, help="a finished run of the matched_steps profile (seed 0)"
    )
    args = parser.parse_args()
    if 0 in args.seeds:
        parser.error("seed 0 is the committed run (results/summary.json); replicates use seeds >= 1")
    summaries = {0: json.loads((RESULTS / "summary.json").read_text())}
    for seed in args.seeds:
        summaries[seed] = run_replicate(seed, args.runs, args.workers)
    for path in sorted(RESULTS.glob("seed*/summary.json")):  # replicates run earlier
        summaries.setdefault(int(path.parent.name[4:]), json.loads(path.read_text()))
    matched = RESULTS / "matched_steps"
    if args.matched:
        matched.mkdir(exist_ok=True)
        shutil.copy(args.matched / "summary.json", matched / "summary.json")
        for arm in json.loads((args.matched / "summary.json").read_text())["arms"]:
            shutil.copy(args.matched / "results" / "eval" / f"{arm['name']}.json", matched / f"{arm['name']}.json")
    if (matched / "summary.json").is_file():  # same data and rollout seeds as seed 0
        summaries[0] = {
            **summaries[0],
            "arms": summaries[0]["arms"] + json.loads((matched / "summary.json").read_text())["arms"],
        }
    text, stats = table(summaries)
    (RESULTS / "replicates.md").write_text(text)
    (RESULTS / "replicates.json").write_text(json.dumps({"seeds": sorted(summaries), "arms": stats, "machine": machine(),
                                                         "command": " ".join(sys.argv)}, indent=2) + "\n")  # fmt: skip
    print(text)


if __name__ == "__main__":
    main()
