"""Overlay videos of dataset episodes: true (green) and predicted (magenta) chunks on every frame; `eval motion --overlay-video`."""

import json

import av
import numpy as np
import pytest
from evaluate_helpers import synthetic_dataset, tiny_policy_checkpoint

from dexego.cli import main
from dexego.data import SampleConfig, SampleSource
from dexego.drawing.overlay import OverlayStyle
from dexego.errors import InputError
from dexego.evaluate.dataset_motion import episode_overlay_frames
from dexego.evaluate.policy_motion import HoldCurrentPose

pytestmark = pytest.mark.timeout(300)
STYLE = OverlayStyle()
SETTINGS = {"action_space": "ego48", "horizon": 30, "history": 5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory.mktemp("data") / "synthetic")


def _is(frame, v, u, color):
    return bool((frame[v, u] == color).all())


def test_episode_frames_show_the_true_future_and_the_prediction_where_they_project(dataset):
    frames, fps, episode = episode_overlay_frames(HoldCurrentPose(30), dataset, SETTINGS, stride=2)
    source = SampleSource(dataset, SampleConfig(**SETTINGS))
    samples = source.samples(0, np.arange(0, 45, 2))
    assert episode == 0 and fps == pytest.approx(source.fps / 2) and len(frames) == len(samples) == 23
    checked = 0
    for frame, sample in zip(frames, samples):
        plain = sample["images"][-1].transpose(1, 2, 0)
        assert frame.shape == plain.shape and (frame != plain).any()
        fx, fy, cx, cy = sample["intrinsics"]
        for hand in range(2):
            if not sample["action_valid"][0, hand]:
                continue
            # Holding the pose predicts the current wrist at every step: its dot is drawn last, in magenta.
            x, y, z = sample["state"][24 * hand : 24 * hand + 3]
            u, v = int(round(fx * x / z + cx)), int(round(fy * y / z + cy))
            if 4 <= u < frame.shape[1] - 4 and 4 <= v < frame.shape[0] - 4:
                assert _is(frame, v, u, STYLE.predicted_wrist)
                checked += 1
    assert checked >= 10
    green = (frames == STYLE.target_wrist).all(-1).reshape(len(frames), -1).any(-1)
    assert green.mean() > 0.5  # the true future path is visible on most frames


def test_bad_episode_and_stride_are_refused(dataset):
    with pytest.raises(InputError, match="episode"):
        episode_overlay_frames(HoldCurrentPose(30), dataset, SETTINGS, episode=2)
    with pytest.raises(InputError, match="video_stride"):
        episode_overlay_frames(HoldCurrentPose(30), dataset, SETTINGS, stride=0)


def test_cli_writes_the_overlay_video_of_a_policy(dataset, tmp_path):
    policy = tiny_policy_checkpoint(tmp_path / "tiny")
    out, video = tmp_path / "motion.json", tmp_path / "videos" / "overlay.mp4"
    args = ["eval", "motion", "--policy", str(policy), "--data", str(dataset), "--max-samples", "2", "--out", str(out),
            "--steps", "4", "8", "--overlay-video", str(video), "--video-episode", "1"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["overall"]["samples"] == 2
    assert result["overlay_video"] == {"path": str(video), "episode": 1, "frames": 40, "fps": 30.0, "stride": 1}
    with av.open(str(video)) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert decoded.shape == (40, 224, 224, 3)
    plain = (
        SampleSource(dataset, SampleConfig(**SETTINGS | {"horizon": 8}))
        .samples(1, [0])[0]["images"][-1]
        .transpose(1, 2, 0)
    )
    assert np.abs(decoded[0].astype(int) - plain).max() > 100  # drawn on, not just re-encoded
    assert not list(video.parent.glob("*.tmp*"))
    assert main(args[:-2] + ["--video-episode", "5"]) == 2
