import shutil

import numpy as np
import pytest

from dexego.annotate.accuracy import episode_accuracy
from dexego.annotate.camera import CameraConfig
from dexego.annotate.caption import UNCAPTIONED, Caption, OfflineCaptioner
from dexego.annotate.estimators import make_estimator
from dexego.annotate.pipeline import AnnotateConfig, annotate_video, decode_video
from dexego.annotate.run import annotate_directory, annotated_videos
from dexego.cli import main
from dexego.data import Dataset
from dexego.data.validate import validate_dataset
from dexego.errors import InputError

ORACLE = AnnotateConfig(estimator="oracle")


class RecordingCaptioner:
    def __init__(self):
        self.calls = []

    def caption(self, frames, side):
        self.calls.append((len(frames), frames[0].shape, side))
        return Caption(f"move the {side} hand", captioned=True)


def _copy_video(path, directory, name):
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in (".mp4", ".json", ".hands.npz"):
        shutil.copy(path.with_name(path.stem + suffix), directory / (name + suffix))


def test_static_video_wrists_and_boundaries_match_the_truth(task_video):
    path, truth = task_video("static")
    captioner = RecordingCaptioner()
    result = annotate_video(path, ORACLE, make_estimator("oracle", pixel_noise=2.0), captioner)
    accuracy = episode_accuracy(result.episode, truth)
    # Noise: 2 px keypoints and 4 mm relative 3D per keypoint -> a few percent of depth at 0.5 m.
    assert accuracy.coverage == 1.0
    assert accuracy.wrist_world_mm < 30.0, accuracy
    # The true phase changes are the centres of 0.6 s pauses; a cut anywhere in the pause is right.
    assert max(accuracy.boundary_error_s) <= 0.4, accuracy
    # Hold | reach | grasp | carry | release | return | hold: at most 6 cuts, at least the two pauses.
    assert 2 <= len(accuracy.boundaries) <= 6
    assert result.episode.metadata["camera"]["mode"] == "static"
    # Every segment was captioned from 8 frames, and the moving hand is the right one.
    assert [c[0] for c in captioner.calls] == [8] * len(result.episode.instructions)
    assert "right" in {c[2] for c in captioner.calls}
    assert [s["text"] for s in result.episode.metadata["segments"]] == [t for _, _, t in result.episode.instructions]
    assert set(result.seconds) == {"decode", "hands", "camera", "lift", "world", "segment", "caption"}


def test_moving_camera_with_given_poses_and_with_rotation_odometry(task_video):
    path, truth = task_video("rotate")
    with_poses = annotate_video(path, AnnotateConfig(estimator="oracle", camera=CameraConfig(mode="poses")),
                                make_estimator("oracle"), OfflineCaptioner(), poses=truth["world_from_camera"])  # fmt: skip
    np.testing.assert_allclose(with_poses.episode.world_from_camera, truth["world_from_camera"], atol=1e-6)
    assert episode_accuracy(with_poses.episode, truth).wrist_world_mm < 30.0
    odometry = annotate_video(path, ORACLE, make_estimator("oracle"), OfflineCaptioner())
    accuracy = episode_accuracy(odometry.episode, truth)
    assert odometry.episode.metadata["camera"] == {
        "mode": "vo",
        "translation": "none",
        "background_flow": pytest.approx(0.007, abs=0.004),
    }
    assert accuracy.wrist_world_mm < 35.0, accuracy
    assert max(accuracy.boundary_error_s) <= 0.5, accuracy


def test_missed_detections_are_filled_and_lower_the_confidence(task_video):
    path, truth = task_video("static")
    result = annotate_video(path, ORACLE, make_estimator("oracle", dropout=0.2, seed=3), OfflineCaptioner())
    confidence = np.array(result.episode.metadata["hand_confidence"])
    assert result.episode.hand_valid.mean() > 0.97  # short gaps interpolated
    assert 0.05 < (confidence < 1.0).mean() < 0.35
    assert episode_accuracy(result.episode, truth).wrist_world_mm < 45.0


def test_decode_resamples_to_the_output_rate_and_downscales(task_video):
    path, _ = task_video("static")
    frames, source, rate, size = decode_video(path, fps=15, max_width=160, max_seconds=2.0)
    assert rate == pytest.approx(30.0) and size == (320, 240)
    assert frames.shape == (30, 120, 160, 3)
    np.testing.assert_array_equal(source[:4], [0, 2, 4, 6])
    bad = path.with_name("broken.mp4")
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="broken.mp4"):
        decode_video(bad, 30, 640, None)


def test_directory_run_writes_a_valid_dataset_resumes_and_skips_bad_videos(task_video, tmp_path):
    path, _ = task_video("static")
    videos = tmp_path / "videos"
    _copy_video(path, videos, "a")
    (videos / "corrupt.mp4").write_bytes(b"\x00" * 64)
    out = tmp_path / "dataset"
    lines = []
    summary = annotate_directory(
        videos, out, AnnotateConfig(estimator="oracle", max_seconds=3.0), progress=False, log=lines.append
    )
    assert summary.written == ["a.mp4"] and list(summary.failed) == ["corrupt.mp4"]
    assert validate_dataset(out) == []
    assert annotated_videos(out) == {"a.mp4"}
    dataset = Dataset(out)
    meta = dataset.episode_meta(0)
    assert meta["source"] == "annotate" and meta["metadata"]["uncaptioned"] == len(meta["metadata"]["segments"])
    assert {text for _, _, text in meta["instructions"]} == {UNCAPTIONED}
    assert dataset.num_frames == 90
    dataset.close()
    # A second run only does the new video.
    _copy_video(path, videos, "b")
    again = annotate_directory(
        videos, out, AnnotateConfig(estimator="oracle", max_seconds=3.0), progress=False, log=lines.append
    )
    assert again.written == ["b.mp4"] and again.skipped == ["a.mp4"]
    assert annotated_videos(out) == {"a.mp4", "b.mp4"} and validate_dataset(out) == []


def test_cli_annotate_with_poses_and_config_errors(task_video, tmp_path, capsys):
    path, truth = task_video("rotate")
    videos = tmp_path / "videos"
    _copy_video(path, videos, "clip")
    np.save(tmp_path / "clip.npy", truth["world_from_camera"])
    out = tmp_path / "ds"
    code = main(["annotate", str(videos), str(out), "--hand-estimator", "oracle", "--camera", f"poses:{tmp_path / 'clip.npy'}",
                 "--set", "max_seconds=2.0", "--estimator-option", "pixel_noise=0.5", "--no-progress"])  # fmt: skip
    assert code == 0 and validate_dataset(out) == []
    dataset = Dataset(out)
    episode = dataset.episode(0, frames=False)
    np.testing.assert_allclose(episode.world_from_camera, truth["world_from_camera"][:60], atol=1e-6)
    dataset.close()
    assert main(["annotate", str(videos), str(out / "x"), "--camera", "slam"]) == 2
    assert "camera.mode" in capsys.readouterr().err
    assert main(["annotate", str(videos), str(out / "y"), "--captioner", "chat"]) == 2
    assert "--caption-endpoint" in capsys.readouterr().err


def test_cli_captions_segments_through_a_chat_endpoint(task_video, tmp_path):
    from test_annotate_caption import FakeChatServer

    path, _ = task_video("static")
    videos = tmp_path / "videos"
    _copy_video(path, videos, "clip")
    out = tmp_path / "ds"
    with FakeChatServer(reply="Reach for the red ball") as server:
        code = main(["annotate", str(videos), str(out), "--hand-estimator", "oracle", "--caption-endpoint", server.url,
                     "--caption-model", "vlm", "--no-progress"])  # fmt: skip
    assert code == 0 and validate_dataset(out) == []
    dataset = Dataset(out)
    meta = dataset.episode_meta(0)
    dataset.close()
    segments = meta["metadata"]["segments"]
    assert len(server.requests) == len(segments) >= 3
    assert all(s["captioned"] and s["text"] == "Reach for the red ball." for s in segments)
    assert meta["metadata"]["uncaptioned"] == 0
    assert all(
        len([c for c in body["messages"][0]["content"] if c["type"] == "image_url"]) == 8
        for _, _, body in server.requests
    )


def test_simulator_human_hands_are_recovered(tmp_path):
    pytest.importorskip(
        "dexego.sim.human_env", reason="the simulator's human embodiment (issue 5) is not in this checkout"
    )
    from sim_video import make_sim_video

    path = tmp_path / "push_box.mp4"
    truth = make_sim_video(path, "Push-Box", seed=1, max_steps=120)
    config = AnnotateConfig(estimator="oracle", camera=CameraConfig(mode="poses"))
    result = annotate_video(
        path, config, make_estimator("oracle"), OfflineCaptioner(), poses=truth["world_from_camera"]
    )
    accuracy = episode_accuracy(result.episode, truth)
    assert accuracy.coverage > 0.95 and accuracy.wrist_world_mm < 40.0, accuracy


def test_uncaptioned_segments_take_the_video_task_or_no_text(task_video, tmp_path):
    """No placeholder reaches training: the video's task text when it has one, else an empty instruction."""
    import json

    from dexego.annotate.estimators.oracle import OracleEstimator

    path, _ = task_video("static")
    videos = tmp_path / "videos"
    _copy_video(path, videos, "with_task")
    _copy_video(path, videos, "plain")
    sidecar_json = videos / "with_task.json"
    meta = json.loads(sidecar_json.read_text())
    sidecar_json.write_text(json.dumps({**meta, "task": "  put the ball on the plate "}))
    out = tmp_path / "dataset"
    summary = annotate_directory(
        videos, out, AnnotateConfig(estimator="oracle", max_seconds=3.0), progress=False, log=lambda _: None
    )
    assert sorted(summary.written) == ["plain.mp4", "with_task.mp4"] and validate_dataset(out) == []
    dataset = Dataset(out)
    by_video = {
        dataset.episode_meta(i)["metadata"]["video"]: dataset.episode_meta(i) for i in range(dataset.num_episodes)
    }
    tasked, plain = by_video["with_task.mp4"], by_video["plain.mp4"]
    assert {text for _, _, text in tasked["instructions"]} == {"put the ball on the plate"}
    assert all(s["text_from"] == "task" for s in tasked["metadata"]["segments"])
    assert tasked["metadata"]["without_instruction"] == 0
    assert {text for _, _, text in plain["instructions"]} == {""}
    assert (
        plain["metadata"]["without_instruction"]
        == plain["metadata"]["uncaptioned"]
        == len(plain["metadata"]["segments"])
    )
    assert "<uncaptioned>" not in dataset.tasks
    dataset.close()
    # A placeholder given as the task is refused, naming the file and field.
    sidecar_json.write_text(json.dumps({**meta, "task": "<uncaptioned>"}))
    with pytest.raises(InputError, match=r"with_task\.json.*task"):
        annotate_video(
            videos / "with_task.mp4",
            AnnotateConfig(estimator="oracle", max_seconds=1.0),
            OracleEstimator(),
            OfflineCaptioner(),
        )
