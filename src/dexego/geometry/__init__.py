"""Rotations, rigid transforms and pinhole cameras (numpy and torch, batched)."""

from dexego.geometry.camera import Intrinsics, in_front, project, unproject
from dexego.geometry.interpolation import slerp_matrix
from dexego.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    matrix_to_rot6d,
    quat_conjugate,
    quat_multiply,
    quat_to_axis_angle,
    quat_to_matrix,
    quat_wxyz_to_xyzw,
    quat_xyzw_to_wxyz,
    rot6d_to_matrix,
    rotation_angle,
    standardize_quat,
)
from dexego.geometry.transforms import (
    apply_transform,
    compose,
    invert_transform,
    make_transform,
    pos_rot6d_to_pose,
    pose_to_pos_rot6d,
)

__all__ = [
    "Intrinsics",
    "apply_transform",
    "axis_angle_to_matrix",
    "axis_angle_to_quat",
    "compose",
    "euler_to_matrix",
    "in_front",
    "invert_transform",
    "make_transform",
    "matrix_to_axis_angle",
    "matrix_to_quat",
    "matrix_to_rot6d",
    "pos_rot6d_to_pose",
    "pose_to_pos_rot6d",
    "project",
    "quat_conjugate",
    "quat_multiply",
    "quat_to_axis_angle",
    "quat_to_matrix",
    "quat_wxyz_to_xyzw",
    "quat_xyzw_to_wxyz",
    "rot6d_to_matrix",
    "rotation_angle",
    "slerp_matrix",
    "standardize_quat",
    "unproject",
]
