import numpy as np
import pytest

from dexego.cli import main
from dexego.data import Dataset, DatasetWriter
from dexego.data.synthetic import synthetic_episode
from dexego.errors import ConfigError, InputError
from dexego.retarget.dataset import DatasetRetargetConfig, hold, retarget_dataset
from dexego.utils.files import TMP_MARK


@pytest.fixture
def human_dataset(tmp_path):
    root = tmp_path / "human"
    with DatasetWriter(root, fps=30) as writer:
        writer.add_episode(synthetic_episode(length=30, seed=0, video=False, invalid_left_frames=slice(5, 12)))
        writer.add_episode(synthetic_episode(length=20, seed=1, video=False))
    return root


def test_hold_fills_missing_frames_from_neighbours():
    values = np.arange(6, dtype=float)[:, None]
    ok = np.array([False, True, True, False, False, True])
    np.testing.assert_array_equal(hold(values, ok, np.array([9.0]))[:, 0], [1, 1, 2, 2, 2, 5])
    np.testing.assert_array_equal(hold(values, np.zeros(6, bool), np.array([9.0]))[:, 0], [9] * 6)


def test_retarget_dataset_adds_robot_trajectories(human_dataset, tmp_path):
    out = tmp_path / "robot"
    totals = retarget_dataset(human_dataset, "h1_inspire", out)
    assert totals["episodes"] == 2 and totals["frames"] == 50 and totals["missing_frames"] == 7
    dataset = Dataset(out)
    episode = dataset.episode(0, frames=False)
    source = Dataset(human_dataset).episode(0, frames=False)
    np.testing.assert_array_equal(episode.keypoints_world, source.keypoints_world)
    assert episode.robot_state.shape == (30, 26) and episode.robot_action.shape == (30, 26)
    assert episode.robot_state_names[:1] == ["left_shoulder_pitch"] and "right_thumb_pitch" in episode.robot_state_names
    np.testing.assert_array_equal(episode.robot_action[:-1], episode.robot_state[1:])
    assert np.isfinite(episode.robot_state).all()
    # The left hand is missing on frames 5..11: its joints hold frame 4's.
    left_hand = [episode.robot_state_names.index(n) for n in ("left_thumb_yaw", "left_index_proximal")]
    np.testing.assert_array_equal(
        episode.robot_state[5:12, left_hand], np.repeat(episode.robot_state[4:5, left_hand], 7, 0)
    )
    assert episode.metadata["retarget"]["left"]["missing_frames"] == 7


def test_hands_only_cli_and_bad_inputs(human_dataset, tmp_path, capsys):
    out = tmp_path / "hands"
    assert main(["retarget", str(human_dataset), "--robot", "inspire_hand_right", "--out", str(out)]) == 0
    episode = Dataset(out).episode(1, frames=False)
    assert episode.robot_state.shape == (20, 6)
    assert "wrote" in capsys.readouterr().out
    # Existing output, unknown robot, robot data already present: clear errors, nothing half-written.
    assert main(["retarget", str(human_dataset), "--robot", "inspire_hand_right", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["retarget", str(human_dataset), "--robot", "no_such_robot", "--out", str(tmp_path / "x")]) == 2
    assert "unknown robot 'no_such_robot'" in capsys.readouterr().err
    assert (
        main(
            [
                "retarget",
                str(human_dataset),
                "--robot",
                "inspire_hand_right",
                "--smoothness",
                "-1",
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "smoothness must be >= 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="anchor must be one of knuckles, wrist"):
        DatasetRetargetConfig(anchor="elbow")
    with pytest.raises(InputError, match="episode 0.*already has robot data"):
        retarget_dataset(out, "inspire_hand_right", tmp_path / "twice", DatasetRetargetConfig())
    assert not (tmp_path / "twice").exists()
    assert not [p.name for p in tmp_path.iterdir() if TMP_MARK in p.name]


def test_a_normal_builtin_human_demo_is_reachable_on_the_builtin_robot_and_far_targets_are_not(tmp_path, capsys):
    """The simulator's human-hand expert (the built-in human data) retargeted onto h1_inspire: no frame unreachable;
    the summary gives each finger's distance from reachable. Fingertips pushed 8 cm out (on 30 frames: fewer than half,
    so the sequence's human hand length, hence the scale, stays) are flagged."""
    from dexego.sim.human_demos import run_human_episode, to_human_episode

    rollout = run_human_episode("Push-Box", 0, 1, 1, render=False)
    episode = to_human_episode(rollout)
    far = rollout["keypoints_world"].copy()
    wrist = far[:30, :, :1]
    tips = [4, 8, 12, 16, 20]
    direction = far[:30, :, tips] - wrist
    far[:30, :, tips] = wrist + direction * (1 + 0.08 / np.linalg.norm(direction, axis=-1, keepdims=True))
    far_episode = to_human_episode({**rollout, "keypoints_world": far})
    root = tmp_path / "human"
    with DatasetWriter(root, fps=30) as writer:
        writer.add_episode(episode)
        writer.add_episode(far_episode)
    out = tmp_path / "robot"
    assert main(["retarget", str(root), "--robot", "h1_inspire", "--no-arms", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    dataset = Dataset(out)
    normal, pushed = (dataset.episode(i, frames=False).metadata["retarget"] for i in (0, 1))
    for side in ("left", "right"):
        assert normal[side]["unreachable_frames"] == 0 and normal[side]["missing_frames"] == 0
        assert pushed[side]["unreachable_frames"] == 30
        threshold = normal[side]["unreachable_threshold_m"]
        assert 0.02 < threshold < 0.04  # 0.15 x the Inspire-like hand's length (~0.21 m)
        fingers = normal[side]["fingertip_error_m"]
        assert list(fingers) == ["thumb", "index", "middle", "ring", "little"]
        assert all(0 <= v["median"] <= v["p95"] <= v["max"] for v in fingers.values())
        assert max(v["median"] for v in fingers.values()) > 0.005  # a real morphology gap, reported rather than flagged
    assert "unreachable 60" in printed  # the pushed frames, both hands
    assert "right hand: fingertip distance from the targets after the solve" in printed and "thumb " in printed
