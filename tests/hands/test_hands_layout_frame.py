import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dexego import geometry as G
from dexego.hands import (
    BONES,
    FINGERTIPS,
    KEYPOINT_NAMES,
    bone_lengths,
    fingertips,
    hand_frame,
    hand_frames,
    mirror_keypoints,
)


def canonical_right_hand() -> np.ndarray:
    """A flat right hand, palm facing -z, fingers along +x, thumb towards +y."""
    kp = np.zeros((21, 3))
    bases = {1: (0.03, 0.04), 5: (0.09, 0.025), 9: (0.095, 0.0), 13: (0.09, -0.02), 17: (0.08, -0.04)}
    for base, (x, y) in bases.items():
        for k in range(4):
            kp[base + k] = [x + 0.03 * k, y + (0.02 * k if base == 1 else 0.0), 0.0]
    return kp


def test_layout_names_and_tips():
    assert len(KEYPOINT_NAMES) == 21 and KEYPOINT_NAMES[0] == "wrist"
    assert [KEYPOINT_NAMES[i] for i in FINGERTIPS] == ["thumb_tip", "index_tip", "middle_tip", "ring_tip", "little_tip"]
    assert len(BONES) == 20 and all(p < c for p, c in BONES)
    kp = canonical_right_hand()
    assert np.allclose(fingertips(kp), kp[[4, 8, 12, 16, 20]])
    lengths = bone_lengths(kp)
    assert lengths.shape == (20,)
    assert np.allclose(lengths[BONES.index((5, 6))], 0.03)


def test_hand_frame_known_value():
    T = hand_frame(canonical_right_hand(), "right")
    assert np.allclose(T[:3, 3], 0)
    assert np.allclose(T[:3, 0], [1, 0, 0])  # towards the middle finger
    assert np.allclose(T[:3, 2], [0, 0, -1])  # out of the palm
    assert np.allclose(T[:3, 1], [0, -1, 0])  # towards the little finger


def test_hand_frame_is_rigid_equivariant_and_mirror_consistent():
    right = canonical_right_hand()
    left = mirror_keypoints(right, axis=1)
    rng = np.random.default_rng(0)
    for R, t in zip(Rotation.random(20, random_state=1).as_matrix(), rng.normal(size=(20, 3))):
        M = G.make_transform(R, t)
        for side, kp in (("right", right), ("left", left)):
            moved = G.apply_transform(M, kp)
            frame = hand_frame(moved, side)
            assert np.allclose(frame[:3, :3] @ frame[:3, :3].T, np.eye(3), atol=1e-9)
            assert np.isclose(np.linalg.det(frame[:3, :3]), 1)
            assert np.allclose(frame, M @ hand_frame(kp, side), atol=1e-9)
    # The left hand's wrist-frame points are the right hand's with y negated.
    local_r = G.apply_transform(G.invert_transform(hand_frame(right, "right")), right)
    local_l = G.apply_transform(G.invert_transform(hand_frame(left, "left")), left)
    assert np.allclose(local_l, local_r * [1, -1, 1], atol=1e-12)
    # Both sides: z stays palmar, so it points the same way for a hand and its mirror image.
    assert np.allclose(hand_frame(left, "left")[:3, 2], [0, 0, -1])


def test_hand_frames_for_both_hands_and_torch():
    right = canonical_right_hand()
    both = np.stack([mirror_keypoints(right, 1), right])[None].repeat(3, 0)
    frames = hand_frames(both)
    assert frames.shape == (3, 2, 4, 4)
    assert np.allclose(frames[:, 0], hand_frame(both[:, 0], "left"))
    assert np.allclose(frames[:, 1], hand_frame(both[:, 1], "right"))
    t = torch.tensor(both, requires_grad=True)
    hand_frames(t).sum().backward()
    assert torch.isfinite(t.grad).all()
    with pytest.raises(ValueError):
        hand_frame(np.zeros((20, 3)), "right")
    with pytest.raises(ValueError, match="left"):
        hand_frame(right, "middle")
