import numpy as np
import torch
from helpers_models import synthetic_chunks

from dexego.actions import Normalizer, get_space
from dexego.geometry import axis_angle_to_matrix, matrix_to_rot6d
from dexego.models import LossWeights
from dexego.models.losses import action_loss

SPACE = get_space("ego48")
IDENTITY = Normalizer({}, "identity", skip=np.zeros(48, dtype=bool))


def chunk():
    return torch.from_numpy(synthetic_chunks(2, horizon=5, seed=4)).double()


def test_identical_prediction_has_zero_loss():
    target = chunk()
    loss, metrics = action_loss(
        target.clone(), target, torch.ones(2, 5, 2, dtype=torch.bool), SPACE, IDENTITY, LossWeights()
    )
    assert float(loss) < 1e-12 and metrics["wrist_pos_error_m"] < 1e-9


def test_known_translation_and_rotation_errors():
    target = chunk()
    pred = target.clone()
    pred[..., SPACE.part_slice("wrist_pos", "left")] += torch.tensor([0.03, 0.0, 0.04], dtype=torch.float64)
    angle = 0.2  # rotate the right wrist about its own z axis: ||R1 - R2||_F^2 = 4 (1 - cos angle)
    rot = SPACE.part_slice("wrist_rot6d", "right")
    from dexego.geometry import rot6d_to_matrix

    turned = rot6d_to_matrix(target[..., rot]) @ axis_angle_to_matrix(
        torch.tensor([0.0, 0.0, angle], dtype=torch.float64)
    )
    pred[..., rot] = matrix_to_rot6d(turned)
    valid = torch.ones(2, 5, 2, dtype=torch.bool)
    loss, metrics = action_loss(pred, target, valid, SPACE, IDENTITY, LossWeights(wrist_pos=20, wrist_rot=5, hand=5))
    pairs = 2 * 5 * 2  # (sample, step, hand) pairs averaged over
    expected_pos = 10 * 0.05**2 / pairs  # only the left hand is off, by 5 cm, in all 10 steps
    expected_rot = 10 * 4 * (1 - np.cos(angle)) / pairs
    np.testing.assert_allclose(metrics["loss_wrist_pos"], expected_pos, rtol=1e-6)
    np.testing.assert_allclose(metrics["loss_wrist_rot"], expected_rot, rtol=1e-6)
    np.testing.assert_allclose(float(loss), 20 * expected_pos + 5 * expected_rot, rtol=1e-6)
    np.testing.assert_allclose(metrics["wrist_pos_error_m"], 0.05 * 10 / pairs, rtol=1e-6)


def test_invalid_hand_steps_are_ignored():
    target = chunk()
    pred = target + 0.01
    valid = torch.ones(2, 5, 2, dtype=torch.bool)
    valid[0, 3:, 1] = False
    base, _ = action_loss(pred, target, valid, SPACE, IDENTITY, LossWeights())
    garbage = pred.clone()
    garbage[0, 3:, SPACE.hand_slice("right")] = 100.0
    changed, _ = action_loss(garbage, target, valid, SPACE, IDENTITY, LossWeights())
    assert torch.equal(base, changed)
    garbage[0, 2, SPACE.hand_slice("right")] = 100.0  # a valid step now differs
    assert float(action_loss(garbage, target, valid, SPACE, IDENTITY, LossWeights())[0]) > float(base)
