"""MuJoCo humanoid dexterous manipulation benchmark: robot, scenes, tasks, scripted experts, evaluation.

Gymnasium ids: ``dexego/<Task>-v0`` (e.g. ``gymnasium.make("dexego/Stack-Can-v0", render=False)``).
The simulator never imports ``dexego.models``: policies reach it through
``reset(seed)`` / ``act(observation)`` (see :mod:`dexego.sim.evaluation`).
"""

from __future__ import annotations

import gymnasium

from dexego.sim.tasks import get_task, task_names

ENV_PREFIX = "dexego/"


def register_envs() -> list[str]:
    """Register one gymnasium env per task (idempotent); returns the ids."""
    ids = []
    for name in task_names():
        env_id = f"{ENV_PREFIX}{name}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point="dexego.sim.env:HumanoidTaskEnv", kwargs={"task": name})
        ids.append(env_id)
    return ids


register_envs()

__all__ = ["ENV_PREFIX", "get_task", "register_envs", "task_names"]
