"""Robot -> human action space: robot joints -> ``ego48`` by forward kinematics, and MANO fits.

Robot ``ego48`` keeps the robot's own geometry (fingertips at robot scale,
as the simulator records them); pass ``human_scale=True`` to shrink the
fingertips to human size by the hand's palm-length ratio (the inverse of
the human -> robot scale the retargeter applies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexego.actions.convert import keypoints_to_action, mano_to_action
from dexego.errors import InputError
from dexego.geometry.transforms import apply_transform, invert_transform
from dexego.hands.frame import hand_frame
from dexego.hands.layout import FINGERTIPS
from dexego.hands.mano import MANOModel
from dexego.retarget.hand import RobotHand


def robot_keypoints_world(
    hands: tuple[RobotHand, RobotHand],
    joints: np.ndarray | torch.Tensor,
    world_from_wrist: np.ndarray | torch.Tensor,
    human_scale: bool = False,
) -> torch.Tensor:
    """Hand joints (..., 2, A) + wrist poses (..., 2, 4, 4) -> world keypoints (..., 2, 21, 3), NaN where unmapped."""
    joints = torch.as_tensor(joints, dtype=torch.float64)
    world_from_wrist = torch.as_tensor(world_from_wrist, dtype=torch.float64)
    per_side = []
    for side, hand in enumerate(hands):
        local = hand.keypoints21(joints[..., side, :].to(hand.dtype)).double()
        if human_scale:
            local = local / hand.human_scale()
        per_side.append(apply_transform(world_from_wrist[..., side, :, :], local))
    return torch.stack(per_side, dim=-3)


def robot_to_ego48(
    hands: tuple[RobotHand, RobotHand],
    joints: np.ndarray | torch.Tensor,
    world_from_wrist: np.ndarray | torch.Tensor,
    world_from_camera: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor | None = None,
    human_scale: bool = False,
) -> np.ndarray:
    """Robot hand joints and wrist poses -> ``ego48`` actions (..., 48) in the camera frame.

    ``ego48`` holds five fingertips per hand: a hand with fewer fingers cannot fill it (use
    :func:`robot_to_mano_action`, which fits MANO to the fingertips the hand has).
    """
    for hand in hands:
        if len(hand.tip_indices) != len(FINGERTIPS):
            raise InputError(
                hand.spec.origin,
                "keypoints",
                f"ego48 needs five fingertips; hand {hand.name!r} maps {len(hand.tip_indices)}",
            )
    keypoints = robot_keypoints_world(hands, joints, world_from_wrist, human_scale)
    finite = torch.isfinite(keypoints[..., [0, 5, 9, 17, *FINGERTIPS], :]).all(-1).all(-1)
    valid_t = finite if valid is None else torch.as_tensor(valid, dtype=torch.bool) & finite
    action = keypoints_to_action(
        keypoints.numpy(), np.asarray(world_from_camera, dtype=np.float64), valid_t.numpy(), "ego48"
    )
    return action.astype(np.float32)


@dataclass
class ManoFit:
    pca: torch.Tensor  # (..., num_pca)
    wrist_from_mano: torch.Tensor  # (4, 4): the hand (wrist) frame from MANO's root frame, constant per model
    fingertip_error: torch.Tensor  # (...,) mean distance (m, human scale) after the fit


def fit_mano_to_fingertips(
    mano: MANOModel,
    fingertips: np.ndarray | torch.Tensor,
    fingertip_indices: tuple[int, ...] = FINGERTIPS,
    iterations: int = 100,
    learning_rate: float = 0.1,
    beta: float = 0.005,
    regularisation: float = 1e-4,
) -> ManoFit:
    """MANO PCA coefficients whose fingertips match (..., F, 3) human-scale fingertips in the wrist frame.

    ``fingertip_indices``: which keypoints the F fingertips are (default all five; a three-finger
    robot hand gives its three, and the other fingers follow the pull towards the mean pose).

    The loss is SmoothL1 (``beta`` in metres) on the fingertips, as EgoVLA
    fits hand parameters to robot fingertips, plus a small L2 pull towards
    the mean pose. MANO's wrist frame (``hand_frame`` of its keypoints) does
    not depend on the finger pose, so it is computed once.
    """
    tips = torch.as_tensor(fingertips, dtype=torch.float64)
    chosen = list(fingertip_indices)
    if not chosen or not set(chosen) <= set(FINGERTIPS):
        raise ValueError(f"fingertip_indices must be a non-empty subset of {FINGERTIPS}, got {fingertip_indices}")
    if tips.shape[-2:] != (len(chosen), 3):
        raise ValueError(f"fingertips must have shape (..., {len(chosen)}, 3), got {tuple(tips.shape)}")
    if not torch.isfinite(tips).all():
        raise ValueError("fingertips contain NaN or inf: fit only valid frames")
    batch = tips.shape[:-2]
    tips = tips.reshape(-1, len(chosen), 3)
    with torch.no_grad():
        rest = mano(pca=torch.zeros(1, mano.num_pca, dtype=torch.float64))
        root_from_wrist = hand_frame((rest.keypoints - rest.joints[..., :1, :])[0], mano.side)
    wrist_from_root = invert_transform(root_from_wrist)
    pca = torch.zeros(tips.shape[0], mano.num_pca, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([pca], lr=learning_rate)
    loss_fn = torch.nn.SmoothL1Loss(beta=beta, reduction="sum")
    for _ in range(iterations):
        out = mano(pca=pca)
        local = apply_transform(wrist_from_root, (out.keypoints - out.joints[..., :1, :])[..., chosen, :])
        loss = loss_fn(local, tips) + regularisation * (pca**2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        out = mano(pca=pca)
        local = apply_transform(wrist_from_root, (out.keypoints - out.joints[..., :1, :])[..., chosen, :])
        error = (local - tips).norm(dim=-1).mean(-1)
    return ManoFit(pca.detach().reshape(batch + (mano.num_pca,)), wrist_from_root, error.reshape(batch))


def robot_to_mano_action(
    hands: tuple[RobotHand, RobotHand],
    manos: tuple[MANOModel, MANOModel],
    joints: np.ndarray | torch.Tensor,
    camera_from_wrist: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor | None = None,
    **fit_options,
) -> tuple[np.ndarray, np.ndarray]:
    """Robot joints (..., 2, A) + wrist poses in the camera frame (..., 2, 4, 4) -> ``mano`` actions (..., 48), fit errors (..., 2).

    Fingertips are shrunk to human size by each hand's palm-length ratio before the fit.
    """
    joints = torch.as_tensor(joints, dtype=torch.float64)
    camera_from_wrist = torch.as_tensor(camera_from_wrist, dtype=torch.float64)
    valid_t = (
        torch.ones(joints.shape[:-1], dtype=torch.bool) if valid is None else torch.as_tensor(valid, dtype=torch.bool)
    )
    poses, pcas, errors = [], [], []
    for side, (hand, mano) in enumerate(zip(hands, manos)):
        ok = valid_t[..., side] & torch.isfinite(joints[..., side, :]).all(-1)
        q = torch.where(ok[..., None], joints[..., side, :], hand.joint_map.middle().double())
        tips = hand.fingertips(q.to(hand.dtype)).double() / hand.human_scale()
        fit = fit_mano_to_fingertips(mano, tips, hand.tip_indices, **fit_options)
        poses.append(camera_from_wrist[..., side, :, :] @ fit.wrist_from_mano)
        pcas.append(fit.pca)
        errors.append(torch.where(ok, fit.fingertip_error, torch.full_like(fit.fingertip_error, float("nan"))))
    action = mano_to_action(torch.stack(poses, -3), torch.stack(pcas, -2), valid_t)
    return action.detach().numpy().astype(np.float32), torch.stack(errors, -1).numpy()
