import numpy as np
import pytest
import torch
from evaluate_helpers import hand_chunk

from dexego.errors import InputError
from dexego.evaluate.policy_motion import HoldCurrentPose, MotionEvalConfig, evaluate_motion

K = np.array([100.0, 100.0, 32.0, 32.0], np.float32)


def sample(source="egodex", instruction="pour", shift=0.0):
    """A sample whose hands move +shift in x over the chunk; the current hands are at the chunk's start."""
    actions = hand_chunk()
    actions[:, 0] += np.linspace(0, shift, 30)
    state = hand_chunk(1)[0]
    return {
        "images": np.zeros((6, 3, 64, 64), np.uint8),
        "image_mask": np.ones(6, bool),
        "instruction": instruction,
        "state": state.astype(np.float32),
        "state_valid": np.ones(2, bool),
        "actions": actions.astype(np.float32),
        "action_valid": np.ones((30, 2), bool),
        "intrinsics": K,
        "fov": np.array([1.0, 1.0], np.float32),
        "source": source,
    }


class OffsetPredictor:
    """Predicts the true chunk plus a fixed wrist offset; records what it was shown."""

    def __init__(self, offset_m):
        self.offset = offset_m
        self.seen = []

    def predict_action_chunk(self, observation):
        self.seen.append(observation)
        return torch.as_tensor(observation["_truth"] + np.r_[self.offset, np.zeros(47)])


def test_predictor_sees_no_targets_and_errors_match_the_offset():
    samples = []
    for source in ("egodex", "sim"):
        s = sample(source)
        s["_truth"] = s["actions"].astype(np.float64)
        samples.append(s)
    predictor = OffsetPredictor(0.05)
    result = evaluate_motion(predictor, samples, MotionEvalConfig(steps=(1, 30)))
    assert all("actions" not in o and "action_valid" not in o for o in predictor.seen)
    # Only the left wrist is off (5 cm); right hand exact: the mean over both hands is 2.5 cm.
    assert result["overall"]["wrist_cm"] == pytest.approx(2.5, rel=1e-5)
    assert result["by_hand"]["left"]["wrist_cm"] == pytest.approx(5.0, rel=1e-5)
    assert result["overall"]["wrist_2d"] == pytest.approx(0.5 * 100 * 0.05 / 0.5 / 64, rel=1e-5)
    assert set(result["by_source"]) == {"egodex", "sim"} and result["by_task"]["pour"]["samples"] == 2


def test_hold_baseline_on_batched_samples():
    moving, still = sample(shift=0.30), sample(shift=0.0)
    batch = {
        k: np.stack([moving[k], still[k]]) if isinstance(moving[k], np.ndarray) else [moving[k], still[k]]
        for k in moving
    }
    result = evaluate_motion(HoldCurrentPose(30), [batch], MotionEvalConfig(steps=(30,)))
    # The moving left hand ends 30 cm away; the other three hands stand still.
    assert result["overall"]["samples"] == 2
    assert result["overall"]["at_step"]["30"]["wrist_cm"] == pytest.approx(30.0 / 4, rel=1e-5)
    expected_mean = np.mean(np.linspace(0, 30, 30)) / 4
    assert result["overall"]["wrist_cm"] == pytest.approx(expected_mean, rel=1e-5)


def test_max_samples_and_bad_inputs():
    samples = [sample() for _ in range(5)]
    result = evaluate_motion(HoldCurrentPose(30), samples, MotionEvalConfig(max_samples=3))
    assert result["overall"]["samples"] == 3
    with pytest.raises(InputError, match="no samples"):
        evaluate_motion(HoldCurrentPose(30), [])
    with pytest.raises(InputError, match="predict_action_chunk"):
        evaluate_motion(HoldCurrentPose(10), [sample()])
    broken = sample()
    del broken["intrinsics"]
    with pytest.raises(InputError, match="intrinsics: missing"):
        evaluate_motion(HoldCurrentPose(30), [broken])


class NaNPredictor:
    def predict_action_chunk(self, observation):
        out = np.zeros((30, 48))
        out[5, 30] = np.nan  # the right hand at step 6
        return out


def test_report_steps_beyond_the_horizon_and_nan_predictions_are_clear_errors():
    from dexego.errors import ConfigError

    with pytest.raises(ConfigError, match=r"report steps \[45\] are outside the chunk's horizon 1\.\.30"):
        evaluate_motion(HoldCurrentPose(30), [sample()], MotionEvalConfig(steps=(10, 45)))
    labelled = {**sample(), "episode_index": np.int64(4), "frame_index": np.int64(12)}
    with pytest.raises(
        InputError, match=r"predict_action_chunk: returned NaN or inf for a valid hand \(episode 4, frame 12\)"
    ):
        evaluate_motion(NaNPredictor(), [labelled])
    labelled["action_valid"][:, 1] = False  # NaN in an invalid hand is ignored, as by the metrics
    assert evaluate_motion(NaNPredictor(), [labelled])["overall"]["samples"] == 1
