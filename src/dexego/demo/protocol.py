"""The look protocol of a demo run, checked on what was recorded: no evaluation look or seed in any training data.

Every episode the simulator recorder writes carries its ``seed``, ``room`` and
``table`` in its metadata (``dexego.sim.demos``). :func:`check_disjoint` reads
them from every training dataset of a run (human, robot, robot shares, held-out
robot episodes) and compares them with the evaluation rollouts the profile will
run (``dexego.sim.evaluation.protocol`` with the profile's looks): a training
episode on an evaluation-only look, or with the seed (hence the object layout)
of an evaluation rollout, is a :class:`ProtocolViolation`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dexego.errors import ConfigError, InputError


class ProtocolViolation(ConfigError):
    """Training data contains an evaluation look or an evaluation seed."""


def look_split(profile) -> dict[str, list[list[int]]]:
    """The profile's three-way look split as written into summaries and reports."""
    looks = profile.looks
    return {"robot (split seen)": [list(x) for x in looks.robot], "human (split human)": [list(x) for x in looks.human],
            "evaluation only (split unseen)": [list(x) for x in looks.evaluation]}  # fmt: skip


def recorded_episodes(path: str | Path) -> list[dict[str, Any]]:
    """(task, seed, room, table, embodiment, dataset, episode) of every episode of a dataset, from its metadata."""
    from dexego.data.meta import DatasetMeta

    root = Path(path)
    rows = []
    for row in DatasetMeta.load(root).episodes.to_pylist():
        index = row.get("episode_index")
        try:
            meta = json.loads(row.get("metadata") or "{}")
        except json.JSONDecodeError as exc:
            raise InputError(root, "metadata", f"episode {index}: not JSON ({exc})") from None
        missing = [k for k in ("seed", "room", "table") if k not in meta]
        if missing:
            raise InputError(root, "metadata", f"episode {index} does not record {', '.join(missing)}: the look protocol "
                             "cannot be checked (record it with dexego sim demos)")  # fmt: skip
        rows.append({"task": meta.get("task"), "seed": int(meta["seed"]), "room": int(meta["room"]), "table": int(meta["table"]),
                     "embodiment": row.get("embodiment"), "dataset": str(root), "episode": index})  # fmt: skip
    return rows


def evaluation_rollouts(profile) -> list:
    """The rollouts (``RolloutSpec``) the profile's evaluation runs: its robot tasks, splits, rollouts and looks."""
    from dexego.sim.evaluation import protocol

    p = profile
    return [spec for task in p.data.robot_tasks for split in p.eval.splits
            for spec in protocol(task, split, p.eval.rollouts, looks=p.looks.split(split))]  # fmt: skip


def check_disjoint(datasets: Iterable[str | Path], profile) -> dict[str, Any]:
    """Raise :class:`ProtocolViolation` when a training episode uses an evaluation look or an evaluation seed.

    Returns what was checked (episodes, the looks and seeds they use, the evaluation rollouts)."""
    episodes = [e for path in datasets for e in recorded_episodes(path)]
    rollouts = evaluation_rollouts(profile)
    evaluation_looks = set(profile.looks.evaluation)
    evaluation_seeds = {spec.seed for spec in rollouts}
    bad_looks = [e for e in episodes if (e["room"], e["table"]) in evaluation_looks]
    bad_seeds = [e for e in episodes if e["seed"] in evaluation_seeds]
    for name, bad in (("an evaluation-only look", bad_looks), ("the seed of an evaluation rollout", bad_seeds)):
        if bad:
            e = bad[0]
            raise ProtocolViolation(f"{len(bad)} training episode(s) use {name}, e.g. {e['dataset']} episode {e['episode']} "
                                    f"(seed {e['seed']}, room {e['room']}, table {e['table']})")  # fmt: skip
    used = sorted({(e["room"], e["table"]) for e in episodes})
    return {"training_episodes": len(episodes), "training_looks": [list(x) for x in used],
            "training_seeds": [min((e["seed"] for e in episodes), default=None), max((e["seed"] for e in episodes), default=None)],
            "evaluation_rollouts": len(rollouts), "evaluation_looks": [list(x) for x in sorted({(s.room, s.table) for s in rollouts})],
            "evaluation_seeds": [min(evaluation_seeds, default=None), max(evaluation_seeds, default=None)],
            "disjoint": True}  # fmt: skip
