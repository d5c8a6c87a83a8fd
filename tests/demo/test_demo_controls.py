"""The control arms: shuffled human motion, robot data on the human looks, human only, matched steps."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dexego.data import Dataset, DatasetWriter
from dexego.data.synthetic import synthetic_episode
from dexego.demo.controls import derangement, shuffle_hand_motion
from dexego.demo.profile import PROFILES_DIR


def test_derangement_moves_every_episode_and_is_seeded():
    for n in (2, 3, 10):
        for seed in range(5):
            d = derangement(n, seed)
            assert sorted(d) == list(range(n)) and all(d[i] != i for i in range(n))
    assert np.array_equal(derangement(10, 1), derangement(10, 1)) and not np.array_equal(
        derangement(10, 1), derangement(10, 2)
    )
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1, 0)


def test_shuffled_copy_keeps_videos_and_takes_hand_tracks_from_other_episodes(tmp_path):
    sources = []
    for name, seeds in (("a", (0, 1)), ("b", (2,))):
        with DatasetWriter(tmp_path / name) as writer:
            for s in seeds:
                writer.add_episode(synthetic_episode(20 + 5 * s, size=(32, 32), seed=s))
        sources.append(tmp_path / name)
    summary = shuffle_hand_motion(sources, tmp_path / "shuffled", seed=0)
    assert summary["written"] == 3
    donors = derangement(3, 0)
    originals = [Dataset(p).episode(i) for p in sources for i in range(Dataset(p).num_episodes)]
    k = 0
    for src in sources:
        copy = Dataset(tmp_path / "shuffled" / src.name)
        for i in range(copy.num_episodes):
            ep = copy.episode(i)
            video, track = originals[k], originals[donors[k]]
            n = min(video.length, track.length)
            assert ep.length == n
            own = np.abs(ep.frames.astype(int) - video.frames[:n].astype(int)).mean()  # re-encoded: a little codec loss
            other = np.abs(ep.frames.astype(int) - track.frames[:n].astype(int)).mean()
            assert own < 6 and own < other / 3, (own, other)  # the video's own frames, not the donor's
            np.testing.assert_allclose(ep.keypoints_world, track.keypoints_world[:n], atol=1e-6)  # another's hands
            np.testing.assert_allclose(ep.world_from_camera, track.world_from_camera[:n], atol=1e-6)
            assert ep.metadata["hand_motion_from"]["episode"] in (0, 1)
            k += 1
    again = shuffle_hand_motion(sources, tmp_path / "shuffled", seed=0)  # resume: nothing rewritten
    assert again["written"] == 0


@pytest.mark.slow
def test_control_arms_run_end_to_end(tmp_path):
    from dexego.demo import DemoOptions, run_demo

    profile = tmp_path / "profile"
    shutil.copytree(PROFILES_DIR / "micro", profile)
    text = (profile / "demo.toml").read_text().split("[[arms]]")[0]
    text += "".join(f"[[arms]]\n{body}\n" for body in (
        'name = "human_pretrained"\npretrained = true', 'name = "shuffled"\npretrained = true\npretraining = "shuffled"',
        'name = "visual"\npretrained = false\nrobot_looks = "robot+human"', 'name = "human_only"\npretrained = true\nfinetune = false',
        'name = "matched"\npretrained = false\nfinetune_steps = 5'))  # fmt: skip
    text += '\n[eval]\nrollouts = 1\nsplits = ["seen", "unseen"]\nhorizon = 15\nquery_every = 8\nvideos = 0\noverlays = 1\nmotion_samples = 2\n'
    (profile / "demo.toml").write_text(text)
    out = tmp_path / "out"
    summary = run_demo(profile, out, DemoOptions(progress=False), log=lambda m: None)
    assert [a["name"] for a in summary["arms"]] == ["human_pretrained", "shuffled", "visual", "human_only", "matched"]
    looks = {(e["room"], e["table"]) for p in (out / "data" / "robot_vr").iterdir() for e in _episodes(p)}
    assert len(looks) >= 2  # robot demonstrations on more than the first robot look (2 episodes: robot look 1 and 2)
    assert json.loads((out / "results" / "runs" / "matched" / "final" / "state.json").read_text())["step"] == 5
    assert (out / "results" / "runs" / "pretrain_shuffled" / "final").is_dir()
    assert not (out / "results" / "runs" / "human_only").exists()  # evaluated straight from pretraining
    assert summary["protocol"]["disjoint"] and len(summary["paired"]) == 4 * 2
    for arm in summary["arms"]:
        assert {s: arm["pooled"][s]["n"] for s in ("seen", "unseen")} == {"seen": 1, "unseen": 1}


def _episodes(path):
    from dexego.demo.protocol import recorded_episodes

    return recorded_episodes(path)
