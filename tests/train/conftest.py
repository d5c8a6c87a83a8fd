import dataclasses

import pytest


def write_synthetic_datasets(root, human_episodes=6, robot_episodes=4, length=60, size=(48, 48)):
    """A human and a robot dataset written with dexego.data (stand-ins for `dexego sim demos` output)."""
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode

    for name, embodiment, count, offset in (
        ("human", "human", human_episodes, 0),
        ("robot", "h1_inspire", robot_episodes, 100),
    ):
        with DatasetWriter(root / name) as writer:
            for i in range(count):
                episode = synthetic_episode(length=length, size=size, seed=offset + i)
                writer.add_episode(dataclasses.replace(episode, embodiment=embodiment, source="synthetic"))
    return root


@pytest.fixture(scope="session")
def synthetic_sim_data(tmp_path_factory):
    """``<root>/data/sim/{human,robot}``: the layout the built-in cpu/* configs read."""
    root = tmp_path_factory.mktemp("recipe")
    write_synthetic_datasets(root / "data" / "sim")
    return root
