"""Statistics of what a policy head predicts: the action chunks of training samples, in the policy's action frame.

The stored per-frame action statistics (``meta/stats.json``) describe absolute
hands; a policy that predicts motion relative to the current state
(``action_frame = "relative"``, :mod:`dexego.actions.relative`) needs the
statistics of the relative chunks instead. They are computed here from the
samples' chunks alone (no frames are decoded), over every valid
(sample, step, hand) of a hand whose current state is valid too. With flip
augmentation on, over the mixture of originals and mirror images training sees.
"""

from __future__ import annotations

import numpy as np

from dexego.actions import ActionSpace, get_space
from dexego.actions.relative import check_action_frame, to_relative
from dexego.data import features as F
from dexego.data.augment import flip_targets
from dexego.data.samples import build_samples
from dexego.data.stats import feature_stats, weighted_stats

DEFAULT_MAX_ANCHORS = 20_000


def chunk_targets(samples: list[dict], space: str | ActionSpace, action_frame: str) -> tuple[np.ndarray, np.ndarray]:
    """(chunks (N, H, D) in ``action_frame``, supervised steps (N, H, 2)) of samples holding state and actions."""
    check_action_frame(action_frame)
    actions = np.stack([s["actions"] for s in samples]).astype(np.float64)
    valid = np.stack([s["action_valid"] for s in samples]).astype(bool)
    if action_frame == "absolute":
        return actions, valid
    state = np.stack([s["state"] for s in samples]).astype(np.float64)
    state_valid = np.stack([s["state_valid"] for s in samples]).astype(bool)
    return to_relative(actions, state, space, state_valid), valid & state_valid[:, None, :]


def target_stats(sources, action_frame: str, max_anchors: int = DEFAULT_MAX_ANCHORS) -> dict[str, np.ndarray]:
    """Per-dimension statistics (``feature_stats``) of the head's targets over ``sources`` (``SampleSource`` list).

    At most ``max_anchors`` anchors are read, spread evenly over every source's episodes. Raises
    ValueError when no sample has a supervised step.
    """
    check_action_frame(action_frame)
    plan = [(s, ep, a) for s in sources for ep in s.episodes for a in s.anchors[ep]]
    if len(plan) > max_anchors:
        keep = np.linspace(0, len(plan) - 1, max_anchors).round().astype(int)
        plan = [plan[i] for i in keep]
    values = []
    # Flip augmentation (a source's ``flip``): the samples it may mirror count as originals (1 - p) and as their
    # mirror images (p), as training sees them; the others as they are. Groups: (values, weight).
    flipping = any(getattr(s, "flip", None) is not None and s.flip.probability > 0 for s in sources)
    groups: dict[str, tuple[list[np.ndarray], float]] = {}
    by_episode: dict[tuple[int, int], list[int]] = {}
    for s, ep, a in plan:
        by_episode.setdefault((id(s), ep), []).append(int(a))
    owners = {id(s): s for s in sources}
    for (key, ep), anchors in by_episode.items():
        source = owners[key]
        space = get_space(source.config.action_space)
        columns = source.dataset.episode_columns(ep)
        tasks = [source.dataset.tasks[int(columns[F.TASK_INDEX][a])] for a in anchors]
        samples = build_samples(columns, [None] * len(anchors), anchors, source.fps, source.config, source.stored_size,
                                source._episode_meta(ep), tasks, f"{source.path} (episode {ep})")  # fmt: skip
        if not flipping:
            values.append(_target_values(samples, space, action_frame))
            continue
        flip = getattr(source, "flip", None)
        p = flip.probability if flip is not None else 0.0
        flips = flip.embodiments if flip is not None and p > 0 else ()
        mirrored = [x for x in samples if x["embodiment"] in flips]
        kept = [x for x in samples if x["embodiment"] not in flips]
        groups_here = [("kept", kept, 1.0), (f"original-{p}", mirrored, 1.0 - p), (f"mirrored-{p}", mirrored, p)]
        for name, group, weight in groups_here:
            if group and weight > 0:
                if name.startswith("mirrored"):
                    group = [flip_targets(x, space) for x in group]
                groups.setdefault(name, ([], weight))[0].append(_target_values(group, space, action_frame))
    if flipping:
        weighted = [(_finite_rows(np.concatenate(v)), w) for v, w in groups.values()]
        if not any(len(v) for v, _ in weighted):
            raise ValueError("no supervised action steps to compute action target statistics from")
        stats = weighted_stats(weighted)
    else:
        if not values:
            raise ValueError("no samples to compute action target statistics from")
        stacked = _finite_rows(np.concatenate(values))
        if not len(stacked):
            raise ValueError("no supervised action steps to compute action target statistics from")
        stats = feature_stats(stacked)
    # A dimension never supervised (a hand that is never valid) gets neutral statistics, not NaN.
    return {
        k: (v if k == "count" else np.where(np.isfinite(v), v, 1.0 if k == "std" else 0.0)) for k, v in stats.items()
    }


def _target_values(samples: list[dict], space: ActionSpace, action_frame: str) -> np.ndarray:
    """(N * H, D) chunk targets of ``samples``, NaN where a step or dimension is not supervised."""
    chunks, valid = chunk_targets(samples, space, action_frame)
    per_dim = np.repeat(valid, space.hand_dim, axis=-1)
    if "action_mask" in samples[0]:  # robot action spaces: dimensions a sample does not carry (a human's joints)
        per_dim = per_dim & np.stack([s["action_mask"] for s in samples])[:, None, :]
    return np.where(per_dim, chunks, np.nan).reshape(-1, space.dim)


def _finite_rows(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values).any(axis=1)]
