import math

import numpy as np
import pytest
from dexego_lerobot_fixture import CAMERAS, FPS, JOINTS, TASKS, make_episodes, write_lerobot_v21, write_lerobot_v30

from dexego.data.features import ROBOT_ACTION, ROBOT_STATE
from dexego.data.reader import Dataset
from dexego.data.validate import validate_dataset
from dexego.errors import ConfigError
from dexego.geometry import Intrinsics
from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert
from dexego.sources.lerobot import ASSUMED_FOV_X_DEG

CODEC_TOLERANCE = 6.0  # mean absolute difference in grey levels after two H.264 encodes


def _convert(src, out, **options):
    return convert("lerobot", src, out, SourceOptions(**options), progress=lambda m: None)


def _check_robot_episodes(out, episodes, camera):
    assert not validate_dataset(out), [str(p) for p in validate_dataset(out)]
    ds = Dataset(out)
    assert ds.num_episodes == len(episodes) and ds.fps == FPS
    assert ds.features[ROBOT_STATE]["names"] == JOINTS and ds.features[ROBOT_ACTION]["names"] == JOINTS
    for i, truth in enumerate(episodes):
        ep = ds.episode(i)
        n = len(truth.state)
        np.testing.assert_array_equal(ep.robot_state, truth.state)  # exact round trip
        np.testing.assert_array_equal(ep.robot_action, truth.action)
        assert np.abs(ep.frames.astype(float) - truth.frames[camera]).mean() < CODEC_TOLERANCE
        assert not ep.hand_valid.any() and np.isnan(ep.keypoints_world).all()
        np.testing.assert_array_equal(ep.world_from_camera, np.tile(np.eye(4), (n, 1, 1)))
        expected = Intrinsics.from_fov(
            math.radians(ASSUMED_FOV_X_DEG), truth.frames[camera].shape[2], truth.frames[camera].shape[1]
        )
        np.testing.assert_allclose(ep.intrinsics, np.tile(expected.vector, (n, 1)), rtol=1e-6)
        assert (
            ep.metadata["camera_pose_assumed"]
            and ep.metadata["intrinsics_assumed"]
            and ep.metadata["camera_key"] == camera
        )
        assert ep.source == "lerobot"
        cols = ds.episode_columns(i)
        np.testing.assert_array_equal(cols["observation.state"], 0)  # no hands: ego48 is zero
    return ds


def test_lerobot_v30_keeps_state_action_frames_and_tasks(tmp_path):
    episodes = make_episodes((5, 4))
    write_lerobot_v30(tmp_path / "so100_cubes", episodes)
    summary = _convert(tmp_path / "so100_cubes", tmp_path / "out")
    assert summary.converted == ["so100_cubes/episode_000000", "so100_cubes/episode_000001"], summary.report()
    ds = _check_robot_episodes(tmp_path / "out", episodes, CAMERAS[0])
    first, second = ds.episode(0), ds.episode(1)
    assert first.instructions == [(0, 5, TASKS[0])] and first.embodiment == "so100"
    assert second.instructions == [(0, 2, TASKS[1]), (2, 4, TASKS[2])]  # the task change inside episode 1 is kept
    assert second.metadata["instruction_placeholder"] is False and second.metadata["lerobot_version"] == "v3.0"


def test_lerobot_v21_with_a_chosen_camera(tmp_path):
    episodes = make_episodes((4, 6), seed=1)
    write_lerobot_v21(tmp_path / "koch_drawer", episodes)
    summary = _convert(tmp_path / "koch_drawer", tmp_path / "out", camera=CAMERAS[1])
    assert len(summary.converted) == 2, summary.report()
    ds = _check_robot_episodes(tmp_path / "out", episodes, CAMERAS[1])
    assert ds.episode(1).instructions == [(0, 3, TASKS[1]), (3, 6, TASKS[2])]
    assert ds.episode(0).embodiment == "koch"


def test_lerobot_missing_video_or_truncated_parquet_skips_that_episode_and_resumes(tmp_path):
    episodes = make_episodes((3, 3, 3), seed=2)
    src = tmp_path / "koch"
    write_lerobot_v21(src, episodes)
    video = src / "videos" / "chunk-000" / CAMERAS[0] / "episode_000001.mp4"
    saved = video.read_bytes()
    video.unlink()
    parquet = src / "data" / "chunk-000" / "episode_000002.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])
    summary = _convert(src, tmp_path / "out")
    assert summary.converted == ["koch/episode_000000"]
    reasons = dict(summary.skipped)
    assert "episode_000001.mp4" in reasons["koch/episode_000001"]
    assert "episode_000002.parquet" in reasons["koch/episode_000002"]
    assert Dataset(tmp_path / "out").num_episodes == 1
    video.write_bytes(saved)  # the missing file arrives: only that episode is converted on the next run
    again = _convert(src, tmp_path / "out")
    assert again.converted == ["koch/episode_000001"] and again.already_present == ["koch/episode_000000"]
    np.testing.assert_array_equal(Dataset(tmp_path / "out").episode(1, frames=False).robot_state, episodes[1].state)


def test_lerobot_unknown_camera_and_image_features_are_refused(tmp_path):
    write_lerobot_v21(tmp_path / "koch", make_episodes((2,)))
    with pytest.raises(ConfigError, match="observation.images.top, observation.images.wrist"):
        _convert(tmp_path / "koch", tmp_path / "out", camera="observation.images.side")
    info_path = tmp_path / "koch" / "meta" / "info.json"
    info_path.write_text(info_path.read_text().replace('"dtype": "video"', '"dtype": "image"', 1))
    with pytest.raises(ConfigError, match="inside the parquet"):
        _convert(tmp_path / "koch", tmp_path / "out2")


def test_cli_convert_lerobot_with_camera(tmp_path, capsys):
    from dexego.cli import main

    write_lerobot_v30(tmp_path / "so100", make_episodes((2,)))
    assert main(["convert", "lerobot", str(tmp_path / "so100"), str(tmp_path / "out"), "--camera", CAMERAS[1]]) == 0
    assert "1 converted" in capsys.readouterr().out
    assert Dataset(tmp_path / "out").episode(0, frames=False).metadata["camera_key"] == CAMERAS[1]
    (tmp_path / "empty").mkdir()
    assert main(["convert", "lerobot", str(tmp_path / "empty"), str(tmp_path / "out2")]) == 2
    assert "no lerobot sequences found" in capsys.readouterr().err
