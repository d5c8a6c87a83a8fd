import numpy as np
import pytest

from dexego.annotate.estimators import HandDetection
from dexego.annotate.sides import SideConfig, assign_sides
from dexego.errors import ConfigError


def _hand(side, x, y=100.0, confidence=0.9):
    pixels = np.tile([x, y], (21, 1)).astype(float)
    return HandDetection(side, pixels, np.zeros((21, 3)), confidence)


def _sides(frames):
    return [[(d.side, d.keypoints_2d[0, 0]) for d in frame] for frame in frames]


def test_flipped_labels_are_corrected_by_continuity():
    # The left hand sits near x=60, the right one moves from x=200 to x=170; labels flip in frames 1 and 3.
    frames = [
        [_hand("left", 60), _hand("right", 200)],
        [_hand("right", 61), _hand("left", 190)],
        [_hand("left", 180)],  # the right hand alone, mislabelled
        [_hand("left", 172), _hand("left", 62)],
    ]
    out = _sides(assign_sides(frames, 320))
    assert out == [
        [("left", 60), ("right", 200)],
        [("left", 61), ("right", 190)],
        [("right", 180)],
        [("left", 62), ("right", 172)],
    ]


def test_without_a_track_two_hands_go_left_to_right_and_one_hand_keeps_its_label():
    out = _sides(
        assign_sides(
            [[_hand("left", 250), _hand("left", 40)], [], [], [], [_hand("right", 30)]],
            320,
            SideConfig(memory_frames=2),
        )
    )
    assert out == [[("left", 40), ("right", 250)], [], [], [], [("right", 30)]]


def test_a_far_hand_labelled_as_the_only_remembered_one_is_the_other_hand():
    out = _sides(assign_sides([[_hand("right", 250)], [_hand("right", 40)]], 320))
    assert out == [[("right", 250)], [("left", 40)]]


def test_estimator_mode_keeps_labels_and_one_hand_per_side():
    frames = [[_hand("right", 61, confidence=0.5), _hand("right", 190, confidence=0.8)]]
    assert _sides(assign_sides(frames, 320, SideConfig(mode="estimator"))) == [[("right", 190)]]
    with pytest.raises(ConfigError, match="sides.mode"):
        SideConfig(mode="guess")
