"""Batched forward kinematics of a :class:`KinematicChain` in torch (differentiable) or numpy (float64, small batches).

Everything is expressed in the chain's root frame. Besides point positions
it returns the analytic positional Jacobian (a hinge moves a point by
``axis x (point - anchor)``, a slide by ``axis``), which the retargeting
solvers use instead of autograd: one pass gives both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexego.geometry.rotations import quat_to_matrix
from dexego.retarget.arrays import cast, cross, expand, namespace, numpy_buffers
from dexego.retarget.chain import HINGE, KinematicChain


@dataclass
class ChainPose:
    """Forward kinematics of a batch of joint configurations."""

    rotations: torch.Tensor  # (..., B, 3, 3) root from body
    translations: torch.Tensor  # (..., B, 3)
    points: torch.Tensor  # (..., P, 3)
    jacobian: torch.Tensor | None  # (..., P, 3, J) d points / d joints, or None
    axes: torch.Tensor | None  # (..., J, 3) joint axes in the root frame (with jacobian=True)
    point_bodies: tuple[int, ...] = ()
    anchors: torch.Tensor | None = None  # (..., J, 3) joint anchors in the root frame (with jacobian=True)

    def point_rotations(self, kinematics: ChainKinematics) -> torch.Tensor:
        """(..., P, 3, 3) root from point frames (a site's orientation)."""
        return self.rotations[..., list(self.point_bodies), :, :] @ kinematics.point_rot


def _skew(v: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(v[..., 0])
    return torch.stack(
        [
            torch.stack([zero, -v[..., 2], v[..., 1]], -1),
            torch.stack([v[..., 2], zero, -v[..., 0]], -1),
            torch.stack([-v[..., 1], v[..., 0], zero], -1),
        ],
        -2,
    )


class ChainKinematics(torch.nn.Module):
    """Forward kinematics (and Jacobians) of all joints of a chain: q (..., J) -> points (..., P, 3)."""

    def __init__(self, chain: KinematicChain, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.chain = chain
        self.num_joints = len(chain.joints)
        self.parents = [b.parent for b in chain.bodies]
        self.body_joints = [b.joints for b in chain.bodies]
        self.joint_is_hinge = [j.kind == HINGE for j in chain.joints]
        f64 = torch.float64
        body_rot = quat_to_matrix(torch.tensor(np.stack([b.quat for b in chain.bodies]), dtype=f64))
        self.register_buffer("body_rot", body_rot.to(dtype))
        self.register_buffer("body_pos", torch.tensor(np.stack([b.pos for b in chain.bodies]), dtype=dtype))
        axes = torch.tensor(np.stack([j.axis for j in chain.joints]) if chain.joints else np.zeros((0, 3)), dtype=f64)
        skew = _skew(axes)
        self.register_buffer("axis", axes.to(dtype))
        self.register_buffer("axis_skew", skew.to(dtype))
        self.register_buffer("axis_skew2", (skew @ skew).to(dtype))
        self.register_buffer(
            "anchor",
            torch.tensor(np.stack([j.anchor for j in chain.joints]) if chain.joints else np.zeros((0, 3)), dtype=dtype),
        )
        self.register_buffer("ref", torch.tensor([j.ref for j in chain.joints], dtype=dtype))
        self.register_buffer("point_pos", torch.tensor(np.stack([p.pos for p in chain.points]), dtype=dtype))
        self.register_buffer(
            "point_rot", quat_to_matrix(torch.tensor(np.stack([p.quat for p in chain.points]), dtype=f64)).to(dtype)
        )
        self.point_body = [p.body for p in chain.points]
        self.register_buffer("moves", torch.tensor(chain.ancestors_mask(), dtype=dtype))  # (P, J)

    def forward(self, q, jacobian: bool = False, dense: bool = True) -> ChainPose:
        """FK; with ``jacobian`` the joint axes and anchors too, and (``dense``) the (..., P, 3, J) Jacobian.

        ``q`` a torch tensor (computed in this module's dtype) or a numpy array (float64; see ``dexego.retarget.arrays``).
        """
        if q.shape[-1] != self.num_joints:
            raise ValueError(f"expected {self.num_joints} joint values in the last axis, got shape {tuple(q.shape)}")
        batch = q.shape[:-1]
        xp = namespace(q)
        const = numpy_buffers(self) if xp is np else dict(self.named_buffers(recurse=False))
        body_rot, body_pos, axis_const, anchor_const = (
            const["body_rot"],
            const["body_pos"],
            const["axis"],
            const["anchor"],
        )
        axis_skew, axis_skew2 = const["axis_skew"], const["axis_skew2"]
        q = cast(q, body_rot)
        delta = q - const["ref"]
        sin, one_minus_cos = xp.sin(delta), 1 - xp.cos(delta)  # every joint at once: one call each, not one per joint
        rots: list = []
        trans: list = []
        joint_axis_world: list = [None] * self.num_joints
        joint_anchor_world: list = [None] * self.num_joints
        for b, parent in enumerate(self.parents):
            if parent < 0:
                rot = expand(body_rot[b], batch + (3, 3))
                pos = expand(body_pos[b], batch + (3,))
            else:
                rot = rots[parent] @ body_rot[b]
                pos = trans[parent] + (rots[parent] @ body_pos[b][..., None])[..., 0]
            for j in self.body_joints[b]:
                anchor = pos + (rot @ anchor_const[j][..., None])[..., 0]
                axis_world = (rot @ axis_const[j][..., None])[..., 0]
                joint_axis_world[j], joint_anchor_world[j] = axis_world, anchor
                if self.joint_is_hinge[j]:
                    # rot @ (I + sin K + (1 - cos) K^2) with K constant: products with constant matrices batch well
                    rot = (
                        rot
                        + sin[..., j, None, None] * (rot @ axis_skew[j])
                        + one_minus_cos[..., j, None, None] * (rot @ axis_skew2[j])
                    )
                    pos = anchor - (rot @ anchor_const[j][..., None])[..., 0]
                else:
                    pos = pos + axis_world * delta[..., j, None]
            rots.append(rot)
            trans.append(pos)
        rotations = xp.stack(rots, -3)
        translations = xp.stack(trans, -2)
        body_idx = self.point_body
        points = (rotations[..., body_idx, :, :] @ const["point_pos"][..., None])[..., 0] + translations[
            ..., body_idx, :
        ]
        jac = axes = anchors = None
        if jacobian:
            axes = xp.stack(joint_axis_world, -2) if self.num_joints else xp.zeros_like(points[..., :0, :])
            anchors = xp.stack(joint_anchor_world, -2) if self.num_joints else xp.zeros_like(points[..., :0, :])
            if dense:
                jac = self._jacobian(points, axes, anchors, q)
        return ChainPose(rotations, translations, points, jac, axes, tuple(body_idx), anchors)

    def jacobian_columns(self, pose: ChainPose, pairs: list[tuple[int, int]]) -> torch.Tensor:
        """d point / d joint for the given (point, joint) pairs only: (..., len(pairs), 3)."""
        points = pose.points[..., [p for p, _ in pairs], :]
        joints = [j for _, j in pairs]
        axis = pose.axes[..., joints, :]
        columns = cross(axis, points - pose.anchors[..., joints, :])
        slide = [k for k, j in enumerate(joints) if not self.joint_is_hinge[j]]
        if slide:
            columns[..., slide, :] = axis[..., slide, :]
        return columns

    def _jacobian(self, points, axis, anchor, q) -> torch.Tensor:
        if self.num_joints == 0:
            return points.new_zeros(points.shape + (0,))
        hinge = torch.tensor(self.joint_is_hinge, device=q.device)
        # (..., P, J, 3): hinge -> axis x (p - anchor); slide -> axis
        lever = points.unsqueeze(-2) - anchor.unsqueeze(-3)
        rotational = torch.linalg.cross(axis.unsqueeze(-3).expand_as(lever), lever, dim=-1)
        columns = torch.where(hinge[:, None], rotational, axis.unsqueeze(-3).expand_as(lever))
        columns = columns * self.moves[..., None]
        return columns.transpose(-1, -2)  # (..., P, 3, J)
