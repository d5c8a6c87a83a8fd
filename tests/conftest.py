import os

# Tests never reach a model hub, and render headless.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
# The tests' HTTP servers listen on loopback: reach them directly where the machine routes HTTP through a proxy.
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1,localhost,::1"]))
# API keys in the machine's environment would change what the serve and caption tests expect; tests set their own.
for _name in ("DEXEGO_API_KEY", "DEXEGO_CAPTION_API_KEY"):
    os.environ.pop(_name, None)

import pickle
import random
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import HealthCheck, settings

from dexego.hands.mano import FINGERTIP_VERTICES

# Property tests draw the same examples on every machine and every run (no example database, no wall-clock
# checks that a loaded CI machine can trip), so a failure in CI reproduces locally. HYPOTHESIS_PROFILE=explore
# draws fresh random examples each run, to hunt for new failing inputs.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _same_global_rng_state_for_every_test():
    """Code that draws from the global RNGs (weight initialisation, unseeded helpers) sees the same numbers in a
    test whatever ran before it in the process: the whole suite, one file, ``-k`` or another order."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


# MANO joint order: wrist, index 1-3, middle 4-6, little 7-9, ring 10-12, thumb 13-15.
_MANO_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
_FINGER_BASES = {"index": (0.09, 0.025), "middle": (0.095, 0.0), "ring": (0.09, -0.02), "little": (0.08, -0.04)}
_FINGER_JOINTS = {"index": 1, "middle": 4, "little": 7, "ring": 10}


def _synthetic_mano_arrays(seed: int, side: str) -> dict:
    """Arrays with MANO's keys and shapes, shaped like a flat right hand along +x (y mirrored for left)."""
    rng = np.random.default_rng(seed)
    joints = np.zeros((16, 3))
    tips = {}
    for finger, (x, y) in _FINGER_BASES.items():
        j = _FINGER_JOINTS[finger]
        for k in range(3):
            joints[j + k] = [x + 0.03 * k, y, 0.0]
        tips[finger] = [x + 0.085, y, 0.0]
    for k in range(3):
        joints[13 + k] = [0.03 + 0.03 * k, 0.04 + 0.02 * k, -0.01]
    tips["thumb"] = [0.12, 0.1, -0.01]
    if side == "left":
        joints[:, 1] *= -1
        tips = {k: [v[0], -v[1], v[2]] for k, v in tips.items()}
    verts = np.repeat(joints, 49, axis=0)[:778] + rng.normal(scale=0.004, size=(778, 3))
    nearest = np.argmin(((verts[:, None] - joints[None]) ** 2).sum(-1), axis=1)
    for finger, vid in FINGERTIP_VERTICES.items():
        verts[vid] = tips[finger]
        nearest[vid] = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "little": 9}[finger]
    weights = np.zeros((778, 16))
    weights[np.arange(778), nearest] = 1.0
    # Each joint is the mean of the vertices skinned to it, so J_regressor reproduces the joint layout.
    regressor = np.zeros((16, 778))
    for j in range(16):
        members = np.flatnonzero((nearest == j) & ~np.isin(np.arange(778), list(FINGERTIP_VERTICES.values())))
        regressor[j, members] = 1.0 / len(members)
    kintree = np.array([[2**32 - 1] + _MANO_PARENTS[1:], list(range(16))], dtype=np.int64)
    return {
        "hands_components": np.linalg.qr(rng.normal(size=(45, 45)))[0] * 0.5,
        "hands_mean": rng.normal(scale=0.1, size=45),
        "shapedirs": rng.normal(scale=1e-3, size=(778, 3, 10)),
        "posedirs": rng.normal(scale=1e-4, size=(778, 3, 135)),
        "v_template": verts,
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": weights,
        "f": rng.integers(0, 778, size=(1538, 3)).astype(np.uint32),
        "kintree_table": kintree,
    }


class _ChumpyLike:
    """Pickles as ``chumpy.ch.Ch`` with the array in its state as 'x', like the real MANO files."""

    def __init__(self, x):
        self.x = x


_ChumpyLike.__module__, _ChumpyLike.__qualname__ = "chumpy.ch", "Ch"


def write_synthetic_mano(directory: Path, chumpy: bool = True) -> Path:
    """Write MANO_LEFT.pkl / MANO_RIGHT.pkl with MANO's structure (chumpy-wrapped arrays like the real files)."""
    directory.mkdir(parents=True, exist_ok=True)
    for side in ("left", "right"):
        arrays = _synthetic_mano_arrays(seed=1 if side == "left" else 2, side=side)
        if chumpy:
            arrays["shapedirs"] = _ChumpyLike(arrays["shapedirs"])
            module = types.ModuleType("chumpy.ch")
            module.Ch = _ChumpyLike
            fakes = {"chumpy": types.ModuleType("chumpy"), "chumpy.ch": module}
            sys.modules.update(fakes)
            try:
                data = pickle.dumps(arrays, protocol=2)
            finally:
                for name in fakes:
                    del sys.modules[name]
        else:
            data = pickle.dumps(arrays, protocol=2)
        (directory / f"MANO_{side.upper()}.pkl").write_bytes(data)
    return directory


@pytest.fixture
def synthetic_mano_dir(tmp_path: Path) -> Path:
    return write_synthetic_mano(tmp_path / "mano")
