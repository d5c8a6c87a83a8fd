"""The scripted expert replayed through the one policy-to-robot converter, per action space.

For each rollout of the protocol (seen looks), the expert runs first; its recorded future hands, chunked
exactly as training samples, are then replayed closed loop through ``dexego sim eval``'s adapter and
``dexego.retarget.commands.PolicyToRobot`` as a policy in ``ego48`` (wrists placed, fingertips retargeted)
and in the robot's joint space ``robot:h1_inspire`` (wrists placed, recorded joint commands). The expert's
SR against the replays' SR says how much the converter loses before any learning.

    python experiments/converter_replay/run.py [--tasks Push-Box,Close-Drawer,Stack-Can] [--rollouts 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import log, machine, write_json  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
SPACES = ("ego48", "robot:h1_inspire")


def main(argv: list[str] | None = None) -> int:
    from dexego.actions.robot import register_robot_spaces
    from dexego.evaluate.sim_oracle import replay_expert
    from dexego.evaluate.sim_policy import SimPolicyConfig
    from dexego.retarget.robots import robot_action_config
    from dexego.sim.evaluation import protocol

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="Push-Box,Close-Drawer,Stack-Can")
    parser.add_argument("--rollouts", type=int, default=3, help="seen-look rollouts per task")
    parser.add_argument("--query-every", type=int, default=4)
    args = parser.parse_args(argv)
    register_robot_spaces(robot_action_config("h1_inspire"))
    start = time.time()
    rows = []
    for task in args.tasks.split(","):
        for spec in protocol(task, "seen", args.rollouts):
            row = {"task": task, "seed": spec.seed, "room": spec.room, "table": spec.table}
            for space in SPACES:
                replay = replay_expert(spec, SimPolicyConfig(query_every=args.query_every), space=space)
                row["expert"] = replay.expert_success
                row[space] = {"success": replay.success, "steps": replay.steps, "wrist_error_mean_m": replay.wrist_error_mean,
                              "hand_error_mean_rad": replay.hand_error_mean}  # fmt: skip
            log(
                f"{task} seed {spec.seed}: expert {row['expert']}, "
                + ", ".join(f"{s} {row[s]['success']}" for s in SPACES)
            )
            rows.append(row)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "results.json", {"commit": commit, "wall_time_s": round(time.time() - start), "machine": machine(),
                                      "query_every": args.query_every, "rows": rows})  # fmt: skip
    lines = ["| task | expert SR | ego48 replay SR | joint-space replay SR | wrist error ego48 / joints (cm) | hand joint error ego48 / joints (rad) |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for task in args.tasks.split(","):
        mine = [r for r in rows if r["task"] == task]
        k = lambda key: sum(bool(r[key]["success"] if isinstance(r[key], dict) else r[key]) for r in mine)  # noqa: E731
        mean = lambda space, field: sum(r[space][field] for r in mine) / len(mine)  # noqa: E731
        lines.append(f"| {task} | {k('expert')}/{len(mine)} | {k('ego48')}/{len(mine)} | {k('robot:h1_inspire')}/{len(mine)} | "
                     f"{100 * mean('ego48', 'wrist_error_mean_m'):.2f} / {100 * mean('robot:h1_inspire', 'wrist_error_mean_m'):.2f} | "
                     f"{mean('ego48', 'hand_error_mean_rad'):.3f} / {mean('robot:h1_inspire', 'hand_error_mean_rad'):.3f} |")  # fmt: skip
    lines.append(f"\ncommit {commit}, query every {args.query_every} steps, wall time {round(time.time() - start)} s")
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
