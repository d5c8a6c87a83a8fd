import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # helpers_models, hf_tiny_models


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny models run fastest on one thread, especially on a shared, busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def stats():
    """Action statistics of 256 synthetic chunks, the normaliser every model test uses."""
    from helpers_models import action_stats, synthetic_chunks

    return action_stats(synthetic_chunks(256, seed=1))
