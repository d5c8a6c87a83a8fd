import shutil

import numpy as np
import pytest

from dexego.annotate.pipeline import AnnotateConfig
from dexego.annotate.ray_job import episode_from_bytes, episode_to_bytes
from dexego.annotate.run import annotated_videos
from dexego.data.synthetic import synthetic_episode
from dexego.data.validate import validate_dataset


def test_episodes_cross_process_boundaries_as_npz_without_pickle():
    episode = synthetic_episode(12, size=(16, 24), invalid_left_frames=slice(2, 5))
    episode.metadata = {"video": "a.mp4", "segments": [{"start": 0, "end": 6}]}
    back = episode_from_bytes(episode_to_bytes(episode))
    np.testing.assert_array_equal(back.keypoints_world, episode.keypoints_world)
    np.testing.assert_array_equal(back.hand_valid, episode.hand_valid)
    np.testing.assert_array_equal(back.frames, episode.frames)
    assert back.intrinsics == episode.intrinsics and back.metadata == episode.metadata
    assert back.instructions == [tuple(seg) for seg in episode.instructions]


@pytest.mark.slow
def test_ray_job_on_a_local_instance_matches_the_local_run(task_video, tmp_path):
    pytest.importorskip("ray", reason="ray is an optional extra: pip install -e '.[scale]'")
    from dexego.annotate.ray_job import annotate_with_ray

    path, _ = task_video("static")
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b"):
        for suffix in (".mp4", ".json", ".hands.npz"):
            shutil.copy(path.with_name(path.stem + suffix), videos / (name + suffix))
    (videos / "c.mp4").write_bytes(b"\x00" * 32)  # corrupt: reported, not fatal
    out = tmp_path / "ds"
    config = AnnotateConfig(estimator="oracle", max_seconds=2.0)
    summary = annotate_with_ray(videos, out, config, "local", workers=2, log=lambda line: None)
    assert sorted(summary.written) == ["a.mp4", "b.mp4"] and list(summary.failed) == ["c.mp4"]
    assert validate_dataset(out) == [] and annotated_videos(out) == {"a.mp4", "b.mp4"}
    assert summary.video_seconds == pytest.approx(4.0)
    again = annotate_with_ray(videos, out, config, "local", workers=2, log=lambda line: None)
    assert again.written == [] and sorted(again.skipped) == ["a.mp4", "b.mp4"]
