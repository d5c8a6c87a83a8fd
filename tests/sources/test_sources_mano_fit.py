"""MANO fitted to keypoints (``dexego.sources.mano_fit``): keypoints made from known MANO parameters are recovered."""

import numpy as np
import torch

from dexego.geometry import axis_angle_to_matrix, rot6d_to_matrix
from dexego.sources.mano_fit import ManoFitConfig, fit_mano_to_keypoints, stored_mano_models


def test_fit_recovers_keypoints_and_wrist_pose_of_known_mano_hands(synthetic_mano_dir):
    models = stored_mano_models(synthetic_mano_dir)
    rng = np.random.default_rng(3)
    n = 3
    pca = rng.normal(scale=0.5, size=(n, 2, 15))
    pca[0] = 0.0  # the mean hand: the fit's pull towards the mean makes this one exactly identifiable
    orient = rng.normal(scale=1.0, size=(n, 2, 3))
    transl = rng.normal(scale=0.3, size=(n, 2, 3))
    keypoints, roots = [], []
    with torch.no_grad():
        for side, model in enumerate(models):
            out = model(
                pca=torch.as_tensor(pca[:, side]),
                global_orient=torch.as_tensor(orient[:, side]),
                transl=torch.as_tensor(transl[:, side]),
            )
            keypoints.append(out.keypoints.numpy())
            roots.append(out.joints[:, 0].numpy())
    keypoints, roots = np.stack(keypoints, 1), np.stack(roots, 1)
    valid = np.ones((n, 2), dtype=bool)
    valid[2, 0] = False
    keypoints[2, 0] = np.nan

    mano, error = fit_mano_to_keypoints(models, keypoints, valid, ManoFitConfig(iterations=150))

    assert mano.shape == (n, 2, 24) and mano.dtype == np.float32
    assert np.isnan(mano[2, 0]).all() and np.isnan(error[2, 0])
    ok = valid
    # The root pose is determined by the palm keypoints alone: exact.
    np.testing.assert_allclose(mano[ok][:, :3], roots[ok], atol=1e-5)
    np.testing.assert_allclose(
        rot6d_to_matrix(mano[ok][:, 3:9].astype(np.float64)), axis_angle_to_matrix(orient[ok]), atol=1e-5
    )
    # All 21 keypoints within a few mm (the fit sees only the fingertips).
    assert np.nanmax(error) < 3e-3
    # PCA: five fingertips do not pin 15 coefficients down in general (twists about a bone leave its tip in place),
    # so the coefficients are only asserted where the answer is unique: the mean hand comes back as zeros.
    np.testing.assert_allclose(mano[0, :, 9:], 0.0, atol=0.05)
    assert np.isfinite(mano[ok][:, 9:]).all()
