"""Test videos from the simulator's human embodiment: an expert episode filmed by the moving head camera.

Writes the rendered video with its intrinsics and ground truth (camera-frame
keypoints, head-camera poses, and as phase changes the frames where the
task's subtask detectors first fire) next to it, in the layout of
:mod:`dexego.annotate.sidecar`, so the annotation pipeline can be scored on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexego.annotate.sidecar import write_ground_truth
from dexego.errors import ConfigError
from dexego.geometry import apply_transform, invert_transform


def make_sim_video(
    path: str | Path, task: str = "Push-Box", seed: int = 0, max_steps: int | None = None
) -> dict[str, np.ndarray]:
    """Run the scripted expert with human hands on ``task``; write ``path`` (mp4) and its sidecars; return the truth."""
    try:
        from dexego.sim.expert import ScriptedExpert
        from dexego.sim.human_env import HumanHandsEnv
    except ImportError as exc:
        raise ConfigError(f"the simulator's human embodiment is not available: {exc}") from None
    from dexego.data.video import encode_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    env = HumanHandsEnv(task)
    expert = ScriptedExpert(task)
    observation, info = env.reset(seed=seed)
    expert.reset(seed)
    frames, keypoints, valid, poses, first_done = [], [], [], [], {}
    steps = max_steps or 10**9
    for step in range(steps):
        frames.append(observation["image"])
        keypoints.append(observation["keypoints"])
        valid.append(observation["hand_valid"])
        poses.append(observation["camera_pose"])
        observation, _, terminated, truncated, info = env.step(expert.act(observation))
        for name, done in info.get("subtasks", {}).items():
            if done and name != "success":
                first_done.setdefault(name, step + 1)
        if terminated or truncated:
            break
    k = env.intrinsics()
    env.close()
    poses_arr = np.stack(poses).astype(np.float64)
    camera = apply_transform(invert_transform(poses_arr)[:, None], np.stack(keypoints).astype(np.float64))
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    encode_video(tmp, np.stack(frames), int(round(env.config.control_hz)))
    tmp.replace(path)
    meta = {
        "intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy},
        "width": k.width,
        "height": k.height,
        "task": task,
    }
    path.with_name(path.stem + ".json").write_text(json.dumps(meta))
    truth = {
        "keypoints_camera": camera.astype(np.float32),
        "hand_valid": np.stack(valid).astype(bool),
        "world_from_camera": poses_arr.astype(np.float32),
        "phase_changes": np.array(sorted(set(first_done.values())), dtype=np.int64),
    }
    write_ground_truth(path, **truth)
    return truth
