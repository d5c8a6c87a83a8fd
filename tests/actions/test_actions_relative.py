import numpy as np
import pytest
import torch

from dexego.actions import get_space
from dexego.actions.relative import to_absolute, to_relative
from dexego.errors import ConfigError
from dexego.geometry import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from dexego.models import PolicyConfig

SPACE = get_space("ego48")


def hands(rng, n):
    """(n, 48) valid ego48 vectors: random positions, rotations and fingertips."""
    out = rng.normal(size=(n, 48))
    for side in (0, 1):
        rot = axis_angle_to_matrix(rng.normal(size=(n, 3)))
        out[:, SPACE.part_slice("wrist_rot6d", side)] = matrix_to_rot6d(rot)
    return out


def test_round_trip_is_exact_for_random_chunks():
    rng = np.random.default_rng(0)
    state, chunk = hands(rng, 4), hands(rng, 4 * 7).reshape(4, 7, 48)
    rel = to_relative(chunk, state, "ego48")
    back = to_absolute(rel, state, "ego48")
    np.testing.assert_allclose(back, chunk, atol=1e-9)


def test_known_values_translation_rotation_and_fingertips():
    rng = np.random.default_rng(1)
    state = hands(rng, 1)[0]
    step = state.copy()
    pos, rot, tips = (SPACE.part_slice(p, 1) for p in ("wrist_pos", "wrist_rot6d", "fingertips"))
    step[pos] += [0.01, -0.02, 0.03]
    turn = axis_angle_to_matrix(np.array([0.0, 0.0, 0.3]))  # 0.3 rad about the wrist's own z axis
    step[rot] = matrix_to_rot6d(rot6d_to_matrix(state[rot]) @ turn)
    step[tips] += 0.005
    rel = to_relative(step[None, None], state[None], "ego48")[0, 0]
    np.testing.assert_allclose(rel[pos], [0.01, -0.02, 0.03], atol=1e-12)
    np.testing.assert_allclose(rot6d_to_matrix(rel[rot]), turn, atol=1e-12)
    np.testing.assert_allclose(rel[tips], 0.005, atol=1e-12)
    # the left hand did not move: zero motion, identity rotation
    np.testing.assert_allclose(rel[SPACE.part_slice("wrist_pos", 0)], 0.0, atol=1e-12)
    np.testing.assert_allclose(rel[SPACE.part_slice("wrist_rot6d", 0)], [1, 0, 0, 0, 1, 0], atol=1e-12)


def test_holding_still_is_zero_motion_and_zero_motion_is_holding_still():
    rng = np.random.default_rng(2)
    state = hands(rng, 3)
    held = np.repeat(state[:, None], 5, axis=1)
    rel = to_relative(held, state, "ego48")
    identity = np.zeros(48)
    for side in (0, 1):
        identity[SPACE.part_slice("wrist_rot6d", side)] = [1, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(rel, np.broadcast_to(identity, rel.shape), atol=1e-12)
    np.testing.assert_allclose(
        to_absolute(np.broadcast_to(identity, (3, 5, 48)).copy(), state, "ego48"), held, atol=1e-12
    )


def test_invalid_state_hand_passes_through_and_torch_matches_numpy():
    rng = np.random.default_rng(3)
    state, chunk = hands(rng, 2), hands(rng, 6).reshape(2, 3, 48)
    state[0, 24:] = 0.0  # the right hand of sample 0 is not in view: zeros, as stored
    valid = np.array([[True, False], [True, True]])
    rel = to_relative(chunk, state, "ego48", valid)
    np.testing.assert_allclose(rel[0, :, 24:], chunk[0, :, 24:], atol=1e-12)  # no reference: unchanged
    assert np.isfinite(rel).all()
    torch_rel = to_relative(torch.from_numpy(chunk), torch.from_numpy(state), "ego48", torch.from_numpy(valid))
    np.testing.assert_allclose(torch_rel.numpy(), rel, atol=1e-12)
    np.testing.assert_allclose(to_absolute(rel, state, "ego48", valid), chunk, atol=1e-9)


def test_shapes_and_frame_names_are_checked():
    with pytest.raises(ValueError, match="chunk"):
        to_relative(np.zeros((2, 3, 48)), np.zeros((3, 48)), "ego48")
    with pytest.raises(ConfigError, match="action_frame"):
        PolicyConfig(action_frame="delta")
