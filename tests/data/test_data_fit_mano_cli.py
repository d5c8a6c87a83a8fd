"""`dexego data fit-mano`: a dataset without MANO gains observation.hands.mano and can then be sampled in the ``mano`` space."""

import numpy as np
import pytest

from dexego.cli import main
from dexego.data import Dataset, DatasetWriter, SampleConfig, SampleSource
from dexego.data import features as F
from dexego.data.synthetic import synthetic_episode
from dexego.data.validate import validate_dataset


@pytest.fixture
def plain_dataset(tmp_path):
    root = tmp_path / "plain"
    with DatasetWriter(root) as writer:
        writer.add_episode(synthetic_episode(4, seed=0, video=False, invalid_left_frames=slice(1, 2)))
    return root


def test_fit_mano_writes_a_new_dataset_with_the_feature(plain_dataset, synthetic_mano_dir, tmp_path, capsys):
    out = tmp_path / "fitted"
    assert (
        main(
            [
                "data",
                "fit-mano",
                str(plain_dataset),
                "--mano",
                str(synthetic_mano_dir),
                "--out",
                str(out),
                "--iterations",
                "20",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "7 hand(s) fitted" in printed and "keypoint error" in printed and " mm" in printed
    assert validate_dataset(out) == []
    before, after = Dataset(plain_dataset).episode(0, frames=False), Dataset(out).episode(0, frames=False)
    np.testing.assert_array_equal(after.keypoints_world, before.keypoints_world)
    assert (
        after.hand_mano.shape == (4, 2, 24)
        and np.isnan(after.hand_mano[1, 0]).all()
        and np.isfinite(after.hand_mano[0]).all()
    )
    # The fitted root sits on the recorded wrist keypoint.
    np.testing.assert_allclose(after.hand_mano[0, :, :3], before.keypoints_world[0, :, 0], atol=1e-5)
    assert after.metadata["mano_fit"]["keypoint_error_mm"]["mean"] > 0
    sample = SampleSource(out, SampleConfig(image_size=(16, 16), action_space="mano", horizon=2)).samples(0, [0])[0]
    assert sample["actions"].shape == (2, 48) and not sample["action_valid"][0, 0] and sample["action_valid"][0, 1]


def test_fit_mano_refuses_an_existing_output_and_a_missing_mano_folder(plain_dataset, tmp_path, capsys):
    assert (
        main(
            ["data", "fit-mano", str(plain_dataset), "--mano", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "MANO_LEFT.pkl" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["data", "fit-mano", str(plain_dataset), "--mano", str(tmp_path), "--out", str(plain_dataset)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert F.HAND_MANO not in Dataset(plain_dataset).features
