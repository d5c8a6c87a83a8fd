"""Statistics of the head's targets: absolute chunks as sampled, relative chunks = chunk minus the current hands."""

import numpy as np
import pytest

from dexego.actions.relative import to_relative
from dexego.data import SampleConfig, SampleSource
from dexego.data.targets import target_stats
from dexego.errors import ConfigError

CONFIG = SampleConfig(history=1, horizon=5, image_size=(16, 16))


def all_samples(source):
    return [s for ep in source.episodes for s in source.samples(ep, source.anchors[ep])]


def test_target_stats_match_the_samples_chunks(small_dataset):
    root, _ = small_dataset
    source = SampleSource(root, CONFIG)
    samples = all_samples(source)
    actions = np.stack([s["actions"] for s in samples]).astype(np.float64)
    state = np.stack([s["state"] for s in samples]).astype(np.float64)
    valid = np.stack([s["action_valid"] for s in samples])
    state_valid = np.stack([s["state_valid"] for s in samples])
    rel = to_relative(actions, state, "ego48", state_valid)
    rel_valid = valid & state_valid[:, None, :]
    absolute, relative = target_stats([source], "absolute"), target_stats([source], "relative")
    for stats, values, ok in ((absolute, actions, valid), (relative, rel, rel_valid)):
        per_dim = np.repeat(ok, 24, axis=-1).reshape(-1, 48)
        flat = values.reshape(-1, 48)
        for d in (0, 5, 30, 47):  # wrist position, rot6d, right wrist, right fingertip
            np.testing.assert_allclose(stats["mean"][d], flat[per_dim[:, d], d].mean(), rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(stats["std"][d], flat[per_dim[:, d], d].std(), rtol=1e-6, atol=1e-9)
    # relative wrist motion over 1/6 s is much smaller than the absolute wrist position
    assert relative["std"][:3].max() < absolute["std"][:3].max()


def test_target_stats_subsample_and_bad_frame(small_dataset):
    root, _ = small_dataset
    source = SampleSource(root, CONFIG)
    few = target_stats([source], "relative", max_anchors=3)
    assert int(few["count"][0]) <= 3 * CONFIG.horizon * 2
    with pytest.raises(ConfigError, match="action_frame"):
        target_stats([source], "delta")
