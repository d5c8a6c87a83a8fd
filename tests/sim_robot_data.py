"""Short robot demonstrations from the simulator's scripted expert, for tests that train on robot joints.

Importable from every test folder (``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

IMAGE = 32


def expert_rollouts(
    task: str = "Push-Box", episodes: int = 1, steps: int = 60, image_size: int = IMAGE, seed: int = 0
) -> list[dict]:
    """``episodes`` expert rollouts of ``task``, each cut at ``steps`` control steps (rendered at ``image_size``).

    As :func:`dexego.sim.demos.run_expert_episode` records them, except that the hand keypoints are read after
    ``mj_kinematics`` at the recorded joint state: after ``mj_step`` MuJoCo's site positions are those of the
    state before the last physics substep, so the recorded keypoints lag the joints slightly (up to ~1.5 cm of
    wrist rotation in fast motion), which would hide the exactness of forward kinematics in tests.
    """
    import mujoco
    import numpy as np

    from dexego.sim.env import HumanoidTaskEnv
    from dexego.sim.expert import ScriptedExpert

    env = HumanoidTaskEnv(task, render=True, image_size=image_size, horizon=steps)
    out = []
    try:
        for i in range(episodes):
            expert = ScriptedExpert(task)
            obs, _ = env.reset(seed=seed + i, options={"room": 1 + i % 3, "table": 1})
            expert.reset(seed + i)
            rec = {k: [] for k in ("frames", "robot_state", "robot_action", "keypoints_world", "world_from_camera")}
            while True:
                action = expert.act(obs)
                mujoco.mj_kinematics(env.model, env.data)
                rec["frames"].append(obs["image"])
                rec["robot_state"].append(env.robot_state())
                rec["keypoints_world"].append(env.hand_keypoints())
                rec["world_from_camera"].append(env.camera_pose())
                rec["robot_action"].append(action)
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            rollout = {k: np.stack(v).astype(np.uint8 if k == "frames" else np.float32) for k, v in rec.items()}
            out.append({**rollout, "success": bool(info["success"]), "intrinsics": env.intrinsics(), "seed": seed + i,
                        "room": 1 + i % 3, "table": 1})  # fmt: skip
    finally:
        env.close()
    return out


def write_robot_dataset(out: Path, rollouts: list[dict], task: str = "Push-Box") -> Path:
    """The rollouts as a dexego robot dataset (as ``dexego sim demos`` writes them)."""
    from dexego.data import DatasetWriter
    from dexego.sim.demos import to_episode

    with DatasetWriter(out, fps=30, robot_type="h1_inspire") as writer:
        for rollout in rollouts:
            writer.add_episode(to_episode(task, rollout))
    return out


def write_human_dataset(out: Path, episodes: int = 3, length: int = 60, image_size: int = IMAGE) -> Path:
    """Synthetic human episodes (hands only, no robot state)."""
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode

    with DatasetWriter(out) as writer:
        for i in range(episodes):
            episode = synthetic_episode(length=length, size=(image_size, image_size), seed=i)
            writer.add_episode(dataclasses.replace(episode, embodiment="human", source="synthetic"))
    return out


def tiny_model(action_space: str, robot: str | None = "h1_inspire", image_size: int = IMAGE, horizon: int = 8) -> dict:
    """A stage config's [model] table for a tiny policy."""
    model = {
        "backbone": "tiny", "head": "regression", "action_space": action_space, "horizon": horizon, "n_obs_frames": 2,
        "tiny": {"image_size": image_size, "patch_size": 16, "width": 32, "depth": 1, "heads": 2, "max_text_bytes": 16},
        "regression": {"width": 32, "depth": 1, "heads": 2},
    }  # fmt: skip
    if robot:
        model["robot"] = {"description": robot}
    return model


def stage(name: str, out: Path, sources: list[dict], model: dict, steps: int = 3, init_from: str = "", **extra) -> dict:
    """A tiny stage config (a dict, as a TOML file would give)."""
    return {
        "name": name, "output_dir": str(out), "seed": 0, "init_from": init_from,
        "data": {"representation": model["action_space"], "val_fraction": 0.0, "sources": sources,
                 "sample": {"image_size": [IMAGE, IMAGE]}, "num_workers": 0},
        "model": model,
        "optimizer": {"lr": 1e-3},
        "loop": {"max_steps": steps, "batch_size": 4, "log_every": 1, "val_every": 0, "checkpoint_every": 0, "progress": False},
        **extra,
    }  # fmt: skip


def closed_loop(policy_dir: Path, task: str = "Push-Box", steps: int = 12, mano_dir: str = "") -> dict:
    """A short closed-loop rollout of a trained policy in the simulator through ``dexego sim eval``'s adapter.

    Returns the env actions, the adapter's query count and its converter's counters."""
    import numpy as np

    from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig
    from dexego.sim.env import HumanoidTaskEnv

    policy = CheckpointPolicyFactory(str(policy_dir), SimPolicyConfig(query_every=4, mano_dir=mano_dir))(task)
    env = HumanoidTaskEnv(task, render=True, image_size=IMAGE, horizon=steps)
    try:
        obs, _ = env.reset(seed=0, options={"room": 1, "table": 1})
        policy.reset(0)
        actions = []
        for _ in range(steps):
            actions.append(policy.act(obs))
            obs, _, terminated, truncated, _ = env.step(actions[-1])
            if terminated or truncated:
                break
        return {"actions": np.stack(actions), "queries": policy.chunked.queries, "solves": policy.converter.solves,
                "kept": policy.converter.kept.copy(), "space": policy.action_space, "hand_joint_pos": obs["hand_joint_pos"]}  # fmt: skip
    finally:
        policy.close()
        env.close()
