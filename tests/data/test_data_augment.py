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


def _spread_values(n=3000, seed=0) -> np.ndarray:
    """(n, 48) values, each dimension with its own skewed distribution; the left hand invalid (NaN) in some rows."""
    rng = np.random.default_rng(seed)
    values = rng.exponential(1.0 + np.arange(48) / 10, size=(n, 48)) * rng.choice([-1, 1], 48) + np.arange(48) / 3
    values[::7, :24] = np.nan
    return values


def test_weighted_statistics_with_equal_weights_are_the_statistics_of_the_stacked_rows():
    from dexego.data.stats import feature_stats, weighted_stats

    values = _spread_values()
    other = _spread_values(n=1000, seed=1) - 2.0
    expected = feature_stats(np.concatenate([values, other]))
    for weight in (1.0, 0.3):
        got = weighted_stats([(values, weight), (other, weight)])
        assert got.keys() == expected.keys() and int(got["count"][0]) == round(4000 * weight)
        for name in expected:
            if name != "count":
                np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-10, err_msg=name)
    alone = weighted_stats([(values, 1.0), (other, 0.0)])  # a group of weight 0 is left out
    np.testing.assert_allclose(alone["q50"], feature_stats(values)["q50"], rtol=1e-12)


@pytest.mark.parametrize("probability, copies", [(0.5, (1, 1)), (0.25, (3, 1)), (1.0, (0, 1))])
def test_flip_statistics_are_those_of_the_originals_and_flips_training_sees(small_dataset, probability, copies):
    """p = 0.5: the union of originals and their flips; p = 0.25: three originals to one flip; p = 1: flips only."""
    from dexego.data import Dataset
    from dexego.data.augment import FlipConfig, flip_dataset_stats
    from dexego.data.features import ACTION
    from dexego.data.stats import QUANTILES, feature_stats

    root, episodes = small_dataset
    dataset = Dataset(root)
    values = np.concatenate([dataset.episode_columns(ep)[ACTION] for ep in range(dataset.num_episodes)])
    seen = np.concatenate([values] * copies[0] + [flip_actions(values)] * copies[1])
    expected = feature_stats(seen)
    flip = FlipConfig(probability=probability, embodiments=(episodes[0].embodiment,))
    got = flip_dataset_stats(dataset, ACTION, flip, "ego48")
    assert int(got["count"][0]) == len(values)
    for name in ("mean", "std", "min", "max"):  # exact
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-9, atol=1e-9, err_msg=name)
    for name, level in QUANTILES.items():  # exact for equal weights; else between the neighbouring order statistics
        if probability in (0.5, 1.0):
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-9, atol=1e-9, err_msg=name)
        else:
            step = 2.0 / len(values)
            low, high = (np.nanquantile(seen, min(max(level + d, 0.0), 1.0), axis=0) for d in (-step, step))
            assert (low - 1e-9 <= got[name]).all() and (got[name] <= high + 1e-9).all(), name
    # the originals' statistics (what the normaliser used before) differ wherever the mirror moves the values
    assert np.abs(dataset.stats[ACTION]["mean"] - expected["mean"]).max() > 0.05
    other = FlipConfig(probability=probability, embodiments=("someone else",))  # mirrors nothing: stored statistics
    assert flip_dataset_stats(dataset, ACTION, other, "ego48") is dataset.stats[ACTION]
