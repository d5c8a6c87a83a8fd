"""observation.hands.mano: stored, read back, validated, and turned into ``mano`` samples in the current camera frame."""

import dataclasses
import json

import numpy as np
import pytest

from dexego.data import Dataset, DatasetWriter, SampleConfig, SampleSource
from dexego.data import features as F
from dexego.data.synthetic import synthetic_episode
from dexego.data.validate import validate_dataset
from dexego.errors import InputError
from dexego.geometry import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix

CFG = SampleConfig(image_size=(32, 32), action_space="mano")


def with_mano(episode, seed: int):
    """The episode plus MANO hands: root at the keypoint wrist, a random world rotation and PCA per frame."""
    rng = np.random.default_rng(seed)
    n = episode.length
    rot = axis_angle_to_matrix(rng.normal(scale=0.8, size=(n, 2, 3)))
    mano = np.concatenate(
        [episode.keypoints_world[:, :, 0].astype(np.float64), matrix_to_rot6d(rot), rng.normal(size=(n, 2, 15))], -1
    )
    mano[~episode.hand_valid] = np.nan
    return dataclasses.replace(episode, hand_mano=mano.astype(np.float32))


@pytest.fixture(scope="module")
def mano_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("mano") / "ds"
    episodes = [
        with_mano(
            synthetic_episode(40, seed=i, video=False, invalid_left_frames=slice(5, 9) if i == 1 else None), seed=i
        )
        for i in range(2)
    ]
    with DatasetWriter(root) as writer:
        for episode in episodes:
            writer.add_episode(episode)
    return root, episodes


def test_mano_feature_round_trips_with_stats_and_validates(mano_dataset):
    root, episodes = mano_dataset
    dataset = Dataset(root)
    assert dataset.features[F.HAND_MANO]["shape"] == [48] and dataset.features[F.HAND_MANO]["names"][:2] == [
        "left.wrist_pos.0",
        "left.wrist_pos.1",
    ]
    for index, episode in enumerate(episodes):
        back = dataset.episode(index, frames=False)
        assert back.hand_mano.shape == (episode.length, 2, 24) and back.hand_mano.dtype == np.float32
        np.testing.assert_array_equal(
            back.hand_mano, episode.hand_mano
        )  # NaN where the hand is invalid, in the same places
    assert np.isnan(dataset.episode(1, frames=False).hand_mano[5:9, 0]).all()
    stats = json.loads((root / "meta/stats.json").read_text())[F.HAND_MANO]
    every = np.concatenate([e.hand_mano.reshape(e.length, 48) for e in episodes])
    # The right hand is valid everywhere: exact mean. (Episodes are weighted by frame count, so dimensions with NaN frames
    # -- the left hand of episode 1 -- are the writer's usual count-weighted approximation.)
    np.testing.assert_allclose(stats["mean"][24:], np.nanmean(every, 0)[24:], atol=1e-5)
    assert np.isfinite(stats["mean"]).all() and np.isfinite(stats["std"]).all()
    np.testing.assert_allclose(stats["max"], np.nanmax(every, 0), atol=1e-6)
    assert stats["count"] == [80]
    assert validate_dataset(root) == []


def test_datasets_without_the_feature_load_as_before(small_dataset):
    root, _ = small_dataset
    dataset = Dataset(root)
    assert F.HAND_MANO not in dataset.features and dataset.episode(0, frames=False).hand_mano is None


def test_bad_mano_parameters_are_refused(tmp_path):
    episode = synthetic_episode(10, video=False)
    bad_k = dataclasses.replace(episode, hand_mano=np.zeros((10, 2, 21), np.float32))
    with pytest.raises(InputError, match=r"hand_mano: expected shape \(10, 2, 24\)"):
        DatasetWriter(tmp_path / "a").add_episode(bad_k)
    nan = np.zeros((10, 2, 24), np.float32)
    nan[3, 1, 12] = np.nan
    with pytest.raises(
        InputError, match="hand_mano: NaN or inf MANO parameters of the right hand marked valid at frame 3"
    ):
        DatasetWriter(tmp_path / "b").add_episode(dataclasses.replace(episode, hand_mano=nan))
    # A dataset declares the feature for every episode or for none.
    with DatasetWriter(tmp_path / "c") as writer:
        writer.add_episode(with_mano(episode, 0))
        with pytest.raises(InputError, match="hand_mano: must be given for every episode"):
            writer.add_episode(episode)
    assert not (tmp_path / "a" / "meta/info.json").exists() and not (tmp_path / "b" / "meta/info.json").exists()


def test_mano_samples_put_the_wrist_in_the_current_camera_frame(mano_dataset):
    root, episodes = mano_dataset
    source = SampleSource(root, CFG)
    anchor, ep = 4, episodes[1]
    sample = source.samples(1, [anchor])[0]
    camera_from_world = np.linalg.inv(ep.world_from_camera[anchor].astype(np.float64))
    assert sample["actions"].shape == (30, 48) and sample["state"].shape == (48,)
    for h in (1, 10, 30):
        t = min(anchor + h, ep.length - 1)
        for side in (0, 1):
            stored = ep.hand_mano[t, side].astype(np.float64)
            got = sample["actions"][h - 1, 24 * side : 24 * side + 24]
            if not ep.hand_valid[t, side]:
                assert not sample["action_valid"][h - 1, side] and not got.any()
                continue
            np.testing.assert_allclose(
                got[:3], camera_from_world[:3, :3] @ stored[:3] + camera_from_world[:3, 3], atol=1e-5
            )
            np.testing.assert_allclose(
                rot6d_to_matrix(got[3:9]), camera_from_world[:3, :3] @ rot6d_to_matrix(stored[3:9]), atol=1e-5
            )
            np.testing.assert_allclose(got[9:], stored[9:], atol=1e-6)  # finger PCA do not depend on the frame
    assert (
        not sample["action_valid"][0:4, 0].any() and sample["action_valid"][4:, 0].all()
    )  # left hand gone at frames 5..8
    np.testing.assert_allclose(
        sample["state"][24:27],
        camera_from_world[:3, :3] @ ep.hand_mano[anchor, 1, :3] + camera_from_world[:3, 3],
        atol=1e-5,
    )


def test_mano_samples_from_a_dataset_without_mano_name_it_and_fit_mano(small_dataset):
    root, _ = small_dataset
    with pytest.raises(InputError) as info:
        SampleSource(root, CFG)
    message = str(info.value)
    assert str(root) in message and F.HAND_MANO in message and "dexego data fit-mano" in message
