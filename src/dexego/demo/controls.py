"""Control data for the demo's arms: the same human videos with hand motion that does not belong to them.

:func:`shuffle_hand_motion` writes a copy of human datasets in which every
episode keeps its own video, instruction and metadata (task, seed, look) but
takes its hand track (world keypoints, validity, camera poses) from another
episode, drawn by a seeded permutation without fixed points over
all episodes of all the datasets. Pretraining on it sees exactly the human
data's images (its visual diversity) with actions that carry no information
about them: the control that tells "human images" from "human motion".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dexego.errors import InputError


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of range(n) with no fixed point (n >= 2): a random order, each taking the next's place."""
    if n < 2:
        raise ValueError(f"need at least 2 episodes to shuffle between, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.roll(order, -1)
    return out


def shuffle_hand_motion(sources: list[Path], out_root: Path, seed: int = 0) -> dict:
    """Write ``out_root/<dataset name>`` for every dataset of ``sources`` with hand tracks shuffled between episodes.

    Episode lengths differ: each written episode is cut to the shorter of its video and its borrowed track.
    A dataset already written (same episode count) is left as it is (resume)."""
    from dexego.data import Dataset, DatasetWriter

    episodes = [(Path(src), i) for src in sources for i in range(Dataset(src).num_episodes)]
    if len(episodes) < 2:
        raise InputError(
            sources[0] if sources else out_root, None, "need at least 2 human episodes to shuffle hand motion"
        )
    donor = derangement(len(episodes), seed)
    written = 0
    for src in sources:
        src = Path(src)
        dst = Path(out_root) / src.name
        mine = [k for k, (path, _) in enumerate(episodes) if path == src]
        if (dst / "meta" / "info.json").is_file() and Dataset(dst).num_episodes == len(mine):
            continue
        if dst.exists():
            raise InputError(dst, None, "holds a partly written shuffled copy; delete it to write it again")
        with DatasetWriter(dst, fps=int(round(Dataset(src).fps))) as writer:
            for k in mine:
                video = Dataset(src).episode(episodes[k][1])
                donor_path, donor_index = episodes[donor[k]]
                track = Dataset(donor_path).episode(donor_index, frames=False)
                n = min(video.length, track.length)
                intrinsics = video.intrinsics_array()[:n]  # the camera that filmed the frames
                writer.add_episode(dataclasses.replace(
                    video, frames=video.frames[:n], keypoints_world=track.keypoints_world[:n], hand_valid=track.hand_valid[:n],
                    world_from_camera=track.world_from_camera[:n], intrinsics=intrinsics, hand_mano=None,
                    instructions=[(0, n, text) for _, _, text in video.instructions[:1]],
                    metadata={**video.metadata, "hand_motion_from": {"dataset": donor_path.name, "episode": int(donor_index)}},
                ))  # fmt: skip
                written += 1
    return {"episodes": len(episodes), "written": written, "seed": seed}
