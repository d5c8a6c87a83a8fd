"""Flip augmentation: an exact mirror of hands, camera, image and words."""

import numpy as np
import pytest

from dexego.actions import action_to_keypoints, keypoints_to_action
from dexego.data import SampleConfig, SampleSource
from dexego.data.augment import flip_actions, flip_instruction, flip_sample, flip_signs
from dexego.hands import mirror_keypoints

CFG = SampleConfig(image_size=(48, 64))


def _sample(small_dataset, anchor=10, episode=0):
    root, _ = small_dataset
    return SampleSource(root, CFG).samples(episode, [anchor])[0]


def test_flipping_twice_is_the_identity(small_dataset):
    sample = _sample(small_dataset)
    back = flip_sample(flip_sample(sample))
    assert set(back) == set(sample)
    for key, value in sample.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back[key], value, err_msg=key)
        else:
            assert back[key] == value, key
    once = flip_sample(sample)
    assert not np.array_equal(once["actions"], sample["actions"]) and not np.array_equal(
        once["images"], sample["images"]
    )


@pytest.mark.parametrize("space", ["ego48", "kp21"])
def test_sign_flip_equals_mirroring_the_keypoints_and_encoding_again(space):
    """The closed form against the definition: reflect camera-frame keypoints, swap the hands, encode."""
    rng = np.random.default_rng(0)
    from dexego.data.synthetic import synthetic_episode

    episode = synthetic_episode(12, seed=3)
    camera_kp = episode.keypoints_world[:, :, :, :].astype(np.float64)  # the world as the camera: any frame works
    camera_kp = camera_kp + rng.normal(0, 0.01, camera_kp.shape)
    eye = np.tile(np.eye(4), (len(camera_kp), 1, 1))
    valid = np.ones((len(camera_kp), 2), dtype=bool)
    encoded = keypoints_to_action(camera_kp, eye, valid, space)
    mirrored = mirror_keypoints(camera_kp, axis=0)[:, ::-1]  # a mirrored left hand is a right hand
    expected = keypoints_to_action(np.ascontiguousarray(mirrored), eye, valid, space)
    np.testing.assert_allclose(flip_actions(encoded, space), expected, atol=1e-9)


def test_flipped_points_project_onto_the_flipped_image(small_dataset):
    sample = _sample(small_dataset, anchor=20)
    height, width = CFG.image_size
    fx, fy, cx, cy = sample["intrinsics"].astype(np.float64)
    points = action_to_keypoints(sample["actions"][0].astype(np.float64), "ego48").points.reshape(-1, 3)
    image = np.zeros((1, 3, height, width), dtype=np.uint8)
    pixels = []
    for x, y, z in points:
        u, v = fx * x / z + cx, fy * y / z + cy
        if 0 <= u < width and 0 <= v < height:
            image[0, :, int(v), int(u)] = 255
            pixels.append((int(u), int(v)))
    assert len(pixels) >= 4, "the test needs hand points inside the image"
    flipped = flip_sample({**sample, "images": image})
    fx2, fy2, cx2, cy2 = flipped["intrinsics"].astype(np.float64)
    mirrored = action_to_keypoints(flipped["actions"][0].astype(np.float64), "ego48").points.reshape(-1, 3)
    lit = 0
    for x, y, z in mirrored:
        u, v = fx2 * x / z + cx2, fy2 * y / z + cy2
        if 0 <= u < width and 0 <= v < height:
            assert flipped["images"][0, 0, int(v), int(u)] == 255, (u, v)
            lit += 1
    assert lit == len(pixels)


def test_instruction_words_swap_and_other_words_stay():
    assert (
        flip_instruction("Pick the cup with the left hand, then the Right one")
        == "Pick the cup with the right hand, then the Left one"
    )
    assert flip_instruction("LEFT drawer; leftover rightmost") == "RIGHT drawer; leftover rightmost"
    assert flip_instruction(flip_instruction("left right")) == "left right"


def test_spaces_and_samples_without_a_mirror_are_refused(small_dataset):
    with pytest.raises(ValueError, match="mano_pca"):
        flip_signs("mano")
    with pytest.raises(ValueError, match="robot joints"):
        flip_sample({**_sample(small_dataset), "robot_state": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="48 values"):
        flip_actions(np.zeros((2, 47)))


def test_training_sources_flip_per_epoch_deterministically(small_dataset):
    from dexego.data.augment import FlipConfig
    from dexego.errors import ConfigError

    root, episodes = small_dataset
    plain = SampleSource(root, CFG)
    always = SampleSource(root, CFG, flip=FlipConfig(probability=1.0, embodiments=(episodes[0].embodiment,)))
    np.testing.assert_array_equal(
        always.samples(0, [10])[0]["actions"], flip_sample(plain.samples(0, [10])[0])["actions"]
    )
    half = FlipConfig(probability=0.5, embodiments=(episodes[0].embodiment,))
    anchors = list(plain.anchors[0])

    def pattern(epoch):
        source = SampleSource(root, CFG, flip=half)
        source.set_epoch(epoch)
        base = plain.samples(0, anchors)
        return [not np.array_equal(s["actions"], b["actions"]) for s, b in zip(source.samples(0, anchors), base)]

    assert pattern(0) == pattern(0)  # a resumed run sees the same flips
    assert pattern(0) != pattern(1) or pattern(1) != pattern(2)  # and other epochs other ones
    assert 0 < sum(pattern(0) + pattern(1) + pattern(2)) < 3 * len(anchors)
    other = SampleSource(root, CFG, flip=FlipConfig(probability=1.0, embodiments=("someone else",)))
    np.testing.assert_array_equal(other.samples(0, [10])[0]["actions"], plain.samples(0, [10])[0]["actions"])
    with pytest.raises(ConfigError, match="flip.probability"):
        FlipConfig(probability=1.5)
    with pytest.raises(ConfigError, match="flip augmentation.*mano_pca"):
        SampleSource(
            root,
            SampleConfig(image_size=(16, 16), action_space="mano"),
            flip=FlipConfig(1.0, (episodes[0].embodiment,)),
        )
