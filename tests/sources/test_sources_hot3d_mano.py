"""HOT3D keeps its MANO parameters: observation.hands.mano holds the world root pose and the 15 PCA of each hand."""

import numpy as np
from dexego_mano_truth import mano_scene_hands
from dexego_sources_testkit import make_scene
from test_sources_hot3d import write_hot3d

from dexego.data import Dataset
from dexego.geometry import axis_angle_to_matrix, rot6d_to_matrix
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert


def test_hot3d_stores_its_mano_parameters_in_the_world_frame(tmp_path, synthetic_mano_dir):
    scene = write_hot3d(
        tmp_path / "in" / "train_aria" / "clip-000001.tar", synthetic_mano_dir, n=4, seed=11, missing_right=2
    )
    # The same draw write_hot3d made: the parameters written into the clip.
    params, _ = mano_scene_hands(
        synthetic_mano_dir,
        make_scene(4, seed=11),
        np.random.default_rng(11),
        flat_hand_mean=False,
        num_pca=15,
        shared_betas=True,
    )
    convert(
        "hot3d", tmp_path / "in", tmp_path / "out", SourceOptions(mano_dir=synthetic_mano_dir), progress=lambda m: None
    )
    mano = Dataset(tmp_path / "out").episode(0, frames=False).hand_mano
    assert mano.shape == (4, 2, 24)
    assert np.isnan(mano[2, 1]).all()  # the right hand is missing at frame 2
    for h, side in enumerate(("left", "right")):
        ok = scene.valid[:, h]
        np.testing.assert_allclose(
            mano[ok, h, :3], scene.keypoints_world[ok, h, 0], atol=1e-5
        )  # root = the wrist keypoint
        np.testing.assert_allclose(
            rot6d_to_matrix(mano[ok, h, 3:9].astype(np.float64)),
            axis_angle_to_matrix(params[side]["global_orient"][ok]),
            atol=1e-5,
        )
        np.testing.assert_allclose(
            mano[ok, h, 9:], params[side]["pca"][ok], atol=1e-5
        )  # HOT3D's convention is the stored one
