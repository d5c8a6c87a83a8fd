"""Long-horizon experts in the simulator: one episode each (the protocol yields are in test_sim_expert_yield.py)."""

import pytest

from dexego.sim.env import HumanoidTaskEnv
from dexego.sim.expert import ScriptedExpert
from dexego.sim.tasks import task_names

LONG = task_names(long_horizon=True)


def _episode(task, seed):
    env = HumanoidTaskEnv(task, render=False)
    obs, info = env.reset(seed=seed, options={"room": 2, "table": 1})
    expert = ScriptedExpert(task)
    expert.reset(seed)
    assert not any(info["subtasks"].values())
    steps = 0
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        steps += 1
        if terminated or truncated:
            break
    env.close()
    return info, steps


@pytest.mark.parametrize("task", LONG)
def test_expert_completes_every_subtask(task):
    info, steps = _episode(task, seed=1)
    assert info["success"] and all(info["subtasks"].values()), info["subtasks"]
    assert steps < HumanoidTaskEnv(task, render=False).horizon
