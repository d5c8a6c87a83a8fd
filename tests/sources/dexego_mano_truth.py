"""Ground-truth MANO hands for the MANO-based source tests (placed in front of a scene's camera)."""

import numpy as np
import torch

from dexego.hands.mano import MANOModel


def mano_scene_hands(mano_dir, scene_like, rng, flat_hand_mean, num_pca=45, shared_betas=False):
    """Random MANO parameters per hand and frame, with each wrist at the scene's wrist position.

    Returns (params, keypoints_world) where params[side] has global_orient, pose (45, relative
    to the mean as the dataset stores it), pca (num_pca, when a PCA dataset), betas, transl
    (smplx/MANO convention: added to the uncentred output).
    """
    n = scene_like.length
    params, kps = {}, []
    for h, side in enumerate(("left", "right")):
        flat = MANOModel.from_dir(mano_dir, side, flat_hand_mean=True, num_pca=45)
        model = MANOModel.from_dir(mano_dir, side, flat_hand_mean=flat_hand_mean, num_pca=num_pca)
        global_orient = rng.normal(scale=0.4, size=(n, 3))
        betas = np.broadcast_to(rng.normal(scale=0.5, size=10), (n, 10)).copy()
        if shared_betas and params:
            betas = params["left"]["betas"]
        pca = rng.normal(scale=0.5, size=(n, num_pca))
        # The full finger pose, computed independently of the model under test: components and mean by hand.
        comps = model.components.numpy()
        mean = model.pose_mean.numpy()
        pose_rel = pca @ comps  # relative to the mean
        with torch.no_grad():
            rest = flat(
                pose=torch.as_tensor(pose_rel + mean),
                global_orient=torch.as_tensor(global_orient),
                betas=torch.as_tensor(betas),
            ).keypoints.numpy()
        target_wrist = scene_like.keypoints_world[:, h, 0]
        transl = target_wrist - rest[:, 0]
        kps.append(rest + transl[:, None])
        params[side] = dict(global_orient=global_orient, pose=pose_rel, pca=pca, betas=betas, transl=transl)
    return params, np.stack(kps, axis=1)
