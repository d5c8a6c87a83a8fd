import pickle

import numpy as np
import pytest
import torch
from dexego_mano_truth import mano_scene_hands
from dexego_sources_testkit import INTRINSICS, Scene, check_converted, make_scene, write_mp4

from dexego.errors import ConfigError
from dexego.geometry import invert_transform
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert

TRIPLET, SEQ = "(stir, spoon, bowl)", "20231105_019"


def write_taco(root, mano_dir, n=4, seed=0, params_out=None):
    base = make_scene(n, seed=seed)
    params, kp = mano_scene_hands(mano_dir, base, np.random.default_rng(seed), flat_hand_mean=True)
    scene = Scene(kp, base.valid, base.world_from_camera)
    hands = root / "Hand_Poses" / TRIPLET / SEQ
    hands.mkdir(parents=True)
    for side, p in params.items():
        frames = {
            f"{t:05d}": {
                "hand_pose": torch.tensor(np.concatenate([p["global_orient"][t], p["pose"][t]]), dtype=torch.float32),
                "hand_trans": torch.tensor(p["transl"][t] + 0 * p["transl"][t], dtype=torch.float32),
            }
            for t in range(n)
        }
        # TACO centres on the wrist before adding hand_trans, so hand_trans is the wrist itself
        for t in range(n):
            frames[f"{t:05d}"]["hand_trans"] = torch.tensor(kp[t, 0 if side == "left" else 1, 0], dtype=torch.float32)
        (hands / f"{side}_hand.pkl").write_bytes(pickle.dumps(frames))
        (hands / f"{side}_hand_shape.pkl").write_bytes(
            pickle.dumps({"hand_shape": torch.tensor(p["betas"][:1], dtype=torch.float32)})
        )
    cam = root / "Egocentric_Camera_Parameters" / TRIPLET / SEQ
    cam.mkdir(parents=True)
    np.savetxt(cam / "egocentric_intrinsic.txt", INTRINSICS.matrix)
    np.save(cam / "egocentric_frame_extrinsic.npy", invert_transform(scene.world_from_camera))
    write_mp4(root / "Egocentric_RGB_Videos" / TRIPLET / SEQ / "color.mp4", scene.frames())
    if params_out is not None:
        params_out.update(params)
    return scene


def test_taco_converts_torch_pickles_through_mano(tmp_path, synthetic_mano_dir):
    scene = write_taco(tmp_path / "in", synthetic_mano_dir)
    summary = convert(
        "taco", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert summary.converted == [f"{TRIPLET}/{SEQ}"], summary.report()
    got = check_converted(tmp_path / "out", scene, pixel_tol=1.0)
    assert "stir the bowl with the spoon" in str(got["meta"]["instructions"])


def test_taco_without_mano_names_what_is_missing(tmp_path, synthetic_mano_dir):
    write_taco(tmp_path / "in", synthetic_mano_dir, n=2)
    with pytest.raises(ConfigError, match="--mano-dir"):
        convert("taco", tmp_path / "in", tmp_path / "out", SourceOptions(), progress=lambda m: None)
    (synthetic_mano_dir / "MANO_LEFT.pkl").unlink()
    with pytest.raises(ConfigError, match="MANO_LEFT.pkl"):
        convert(
            "taco",
            tmp_path / "in",
            tmp_path / "out",
            SourceOptions(mano_dir=synthetic_mano_dir),
            progress=lambda m: None,
        )


def test_taco_refuses_a_pickle_that_would_run_code(tmp_path, synthetic_mano_dir):
    write_taco(tmp_path / "in", synthetic_mano_dir, n=2)
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (tmp_path / "in" / "Hand_Poses" / TRIPLET / SEQ / "left_hand.pkl").write_bytes(pickle.dumps({"00000": Evil()}))
    summary = convert(
        "taco", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    assert not summary.converted and "not allowed" in summary.skipped[0][1]
    assert not (tmp_path / "pwned").exists()
