"""Hands: the 21-keypoint layout, the one hand-frame function, optional MANO."""

from dexego.hands.frame import hand_frame, hand_frames
from dexego.hands.layout import (
    BONES,
    FINGER_KEYPOINTS,
    FINGER_NAMES,
    FINGERTIPS,
    KEYPOINT_INDEX,
    KEYPOINT_NAMES,
    NUM_KEYPOINTS,
    PARENTS,
    SIDES,
    WRIST,
    bone_lengths,
    fingertips,
    mirror_keypoints,
    side_index,
)

__all__ = [
    "BONES",
    "FINGERTIPS",
    "FINGER_KEYPOINTS",
    "FINGER_NAMES",
    "KEYPOINT_INDEX",
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "PARENTS",
    "SIDES",
    "WRIST",
    "bone_lengths",
    "fingertips",
    "hand_frame",
    "hand_frames",
    "mirror_keypoints",
    "side_index",
]
