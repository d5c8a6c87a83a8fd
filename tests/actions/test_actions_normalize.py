import numpy as np
import pytest
import torch

from dexego.actions import EGO48, Normalizer


@pytest.fixture
def stats():
    x = np.random.default_rng(0).normal(loc=3.0, scale=2.0, size=(10000, 4))
    return x, {
        "mean": x.mean(0), "std": x.std(0), "min": x.min(0), "max": x.max(0),
        "q01": np.quantile(x, 0.01, axis=0), "q99": np.quantile(x, 0.99, axis=0),
    }  # fmt: skip


@pytest.mark.parametrize("mode", ["mean_std", "quantile", "min_max", "identity"])
def test_round_trip_numpy_and_torch(stats, mode):
    x, s = stats
    norm = Normalizer(s, mode)
    assert np.allclose(norm.unnormalize(norm.normalize(x)), x)
    xt = torch.tensor(x, dtype=torch.float32)
    assert torch.allclose(norm.unnormalize(norm.normalize(xt)), xt, atol=1e-5)
    assert norm.normalize(xt).dtype == torch.float32


def test_known_values(stats):
    x, s = stats
    y = Normalizer(s, "mean_std").normalize(x)
    assert np.allclose(y.mean(0), 0, atol=1e-9) and np.allclose(y.std(0), 1)
    q = Normalizer(s, "quantile")
    assert np.allclose(q.normalize(s["q01"]), -1) and np.allclose(q.normalize(s["q99"]), 1)
    m = Normalizer(s, "min_max").normalize(x)
    assert np.isclose(m.min(), -1) and np.isclose(m.max(), 1)


def test_skip_mask_and_constant_dims():
    s = {"mean": np.full(48, 2.0), "std": np.zeros(48)}
    skip = EGO48.part_mask("wrist_rot6d")
    norm = Normalizer(s, "mean_std", skip=skip)
    x = np.full((3, 48), 2.5)
    y = norm.normalize(x)
    assert np.all(y[:, skip] == 2.5)  # untouched
    assert np.allclose(y[:, ~skip], 0.5 / 1e-2)  # zero std is floored at min_scale, not divided by
    restored = Normalizer.from_state_dict(norm.state_dict(), "mean_std")
    assert np.array_equal(restored.normalize(x), y)


def test_bad_statistics():
    with pytest.raises(ValueError, match="q01"):
        Normalizer({"mean": np.zeros(2), "std": np.ones(2)}, "quantile")
    with pytest.raises(ValueError, match="NaN"):
        Normalizer({"mean": np.array([0, np.nan]), "std": np.ones(2)})
    with pytest.raises(ValueError, match="unknown"):
        Normalizer({}, "zscore")
    with pytest.raises(ValueError, match="values in the last axis"):
        Normalizer({"mean": np.zeros(2), "std": np.ones(2)}).normalize(np.zeros(3))
