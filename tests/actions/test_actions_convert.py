import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dexego import geometry as G
from dexego.actions import EGO48, KP21, action_to_keypoints, get_space, keypoints_to_action, mano_to_action
from dexego.errors import ConfigError
from dexego.hands import FINGERTIPS, hand_frame, mirror_keypoints
from dexego.hands.mano import MANOModel


def random_hands(n: int, seed: int = 0) -> np.ndarray:
    """(n, 2, 21, 3) world keypoints: random rigid placements of a jittered hand, left mirrored from right."""
    rng = np.random.default_rng(seed)
    right = np.zeros((21, 3))
    for base, (x, y) in {
        1: (0.03, 0.04),
        5: (0.09, 0.025),
        9: (0.095, 0.0),
        13: (0.09, -0.02),
        17: (0.08, -0.04),
    }.items():
        for k in range(4):
            right[base + k] = [x + 0.03 * k, y, 0.0]
    hands = np.empty((n, 2, 21, 3))
    for i in range(n):
        for side, base in enumerate((mirror_keypoints(right, 1), right)):
            kp = base + rng.normal(scale=0.01, size=(21, 3))
            R = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
            hands[i, side] = kp @ R.T + rng.normal(scale=0.3, size=3) + [0, 0, 1.0]
    return hands


def random_cameras(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return G.make_transform(Rotation.random(n, random_state=seed).as_matrix(), rng.normal(size=(n, 3)))


def test_space_layouts():
    assert EGO48.dim == 48 and EGO48.hand_dim == 24
    assert KP21.dim == 138
    assert get_space("mano").dim == 48
    assert EGO48.part_slice("wrist_pos", "left") == slice(0, 3)
    assert EGO48.part_slice("fingertips", "right") == slice(33, 48)
    assert EGO48.part_mask("wrist_rot6d").sum() == 12
    assert EGO48.names()[24] == "right.wrist_pos.0" and len(EGO48.names()) == 48
    assert EGO48.dim_mask(np.array([[True, False]])).tolist() == [[True] * 24 + [False] * 24]
    with pytest.raises(ConfigError, match="known: ego48"):
        get_space("ego96")
    with pytest.raises(KeyError):
        EGO48.part_slice("thumb", "left")


@pytest.mark.parametrize("space", ["ego48", "kp21"])
def test_keypoints_action_round_trip_under_random_cameras(space):
    kp = random_hands(64)
    cams = random_cameras(64)
    action = keypoints_to_action(kp, cams, space=space)
    assert action.shape == (64, get_space(space).dim)
    decoded = action_to_keypoints(action, space, world_from_camera=cams)
    idx = list(decoded.keypoint_indices)
    assert np.allclose(decoded.points, kp[:, :, idx], atol=1e-9)
    assert np.allclose(decoded.wrist_pose[:, 0], hand_frame(kp[:, 0], "left"), atol=1e-9)
    assert np.allclose(decoded.wrist_pose[:, 1], hand_frame(kp[:, 1], "right"), atol=1e-9)
    # Without a pose, the decoded hands are in the camera frame.
    in_camera = action_to_keypoints(action, space)
    assert np.allclose(G.apply_transform(cams[:, None], in_camera.points), kp[:, :, idx], atol=1e-9)


def test_ego48_parts_have_their_meaning():
    kp = random_hands(1)[0]
    cam = np.eye(4)
    action = keypoints_to_action(kp, cam)
    right = slice(24, 48)
    assert np.allclose(action[right][:3], kp[1, 0])  # wrist position in the camera frame
    frame = hand_frame(kp[1], "right")
    tips_local = (kp[1, list(FINGERTIPS)] - frame[:3, 3]) @ frame[:3, :3]
    assert np.allclose(action[EGO48.part_slice("fingertips", "right")], tips_local.ravel())


def test_invalid_hands_are_zero_and_may_be_nan():
    kp = random_hands(4)
    kp[1, 0] = np.nan
    valid = np.ones((4, 2), dtype=bool)
    valid[1, 0] = False
    action = keypoints_to_action(kp, random_cameras(4), valid=valid)
    assert np.all(np.isfinite(action))
    assert np.all(action[1, :24] == 0) and np.any(action[1, 24:] != 0)
    # Without an explicit mask, non-finite hands are treated as invalid.
    assert np.array_equal(keypoints_to_action(kp, random_cameras(4)), action)
    # Keypoints that ego48 does not need may be unknown (as for robot hands).
    partial = random_hands(2)
    unused = [i for i in range(21) if i not in EGO48.required_keypoints]
    reference = keypoints_to_action(partial, np.eye(4))
    partial[:, :, unused] = np.nan
    assert np.allclose(keypoints_to_action(partial, np.eye(4)), reference)


def test_bad_input():
    kp = random_hands(2)
    kp[0, 1, 9] = np.nan
    with pytest.raises(ValueError, match="valid"):
        keypoints_to_action(kp, np.eye(4), valid=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="21, 3"):
        keypoints_to_action(np.zeros((3, 21, 3)), np.eye(4))
    with pytest.raises(ValueError, match="48"):
        action_to_keypoints(np.zeros((3, 47)))
    with pytest.raises(ValueError, match="mano"):
        action_to_keypoints(np.zeros((3, 48)), "mano")


def test_torch_path_is_differentiable():
    kp = torch.tensor(random_hands(3), requires_grad=True)
    action = keypoints_to_action(kp, torch.eye(4, dtype=torch.float64))
    action.sum().backward()
    assert torch.isfinite(kp.grad).all()


def test_mano_space_round_trip(synthetic_mano_dir):
    models = tuple(MANOModel.from_dir(synthetic_mano_dir, side, flat_hand_mean=False) for side in ("left", "right"))
    rng = np.random.default_rng(3)
    wrist = G.make_transform(
        Rotation.random(2 * 5, random_state=4).as_matrix().reshape(5, 2, 3, 3), rng.normal(size=(5, 2, 3))
    )
    pca = rng.normal(scale=0.5, size=(5, 2, 15))
    action = mano_to_action(wrist, pca)
    assert action.shape == (5, 48)
    decoded = action_to_keypoints(action, "mano", mano=models)
    for side, model in enumerate(models):
        out = model(pca=torch.tensor(pca[:, side]))
        local = (out.keypoints - out.joints[..., :1, :]).numpy()
        assert np.allclose(decoded.points[:, side], G.apply_transform(wrist[:, side], local), atol=1e-9)
    assert np.allclose(decoded.points[:, :, 0], wrist[:, :, :3, 3], atol=1e-9)  # the root sits at the wrist pose
