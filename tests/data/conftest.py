import pytest

from dexego.data import DatasetWriter
from dexego.data.synthetic import synthetic_episode


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """Three short 64x64 episodes; episode 1 loses its left hand for frames 5..8."""
    root = tmp_path_factory.mktemp("ds") / "small"
    episodes = [
        synthetic_episode(40 + i, seed=i, invalid_left_frames=slice(5, 9) if i == 1 else None) for i in range(3)
    ]
    with DatasetWriter(root) as writer:
        for episode in episodes:
            writer.add_episode(episode)
    return root, episodes
