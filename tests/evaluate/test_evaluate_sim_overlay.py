"""Predicted chunks drawn on simulator rollout frames: same actions and results, drawing exactly where the chunk projects."""

import av
import numpy as np
import pytest
from evaluate_helpers import hand_chunk

from dexego.drawing.overlay import OverlayStyle, overlay_chunk, style_for_frame
from dexego.evaluate.sim_overlay import ChunkTap, predicted_hand_valid
from dexego.evaluate.sim_policy import SimPolicyConfig, model_sim_policy

pytestmark = pytest.mark.timeout(300)
IMAGE, STEPS, EVERY = 64, 7, 3
INFO = {"action_space": "ego48", "obs_frames": 2}
MAGENTA = np.array(OverlayStyle().predicted_wrist)


@pytest.fixture(scope="module")
def env():
    from dexego.sim.env import HumanoidTaskEnv

    env = HumanoidTaskEnv("Push-Box", render=True, image_size=IMAGE, horizon=STEPS)
    yield env
    env.close()


def wrists(query: int):
    """Both wrists 0.45 m ahead of the camera; every query moves them, so frames must show the newest chunk."""
    return (-0.12 + 0.02 * query, 0.06, 0.45), (0.12, 0.06 - 0.02 * query, 0.45)


class ChangingChunks:
    """A tiny policy: a different constant chunk per query."""

    def __init__(self):
        self.queries = 0

    def predict_action_chunk(self, observation):
        chunk = hand_chunk(horizon=8, wrist=wrists(self.queries)).astype(np.float32)
        self.queries += 1
        return chunk


def run(env, overlay: bool):
    """Like dexego.sim.evaluation.run_rollout: the policy acts on each observation, the video shows video_frame."""
    policy = model_sim_policy(ChangingChunks(), "Push-Box", SimPolicyConfig(query_every=EVERY, overlay=overlay), INFO)
    obs, _ = env.reset(seed=0, options={"room": 1, "table": 1})
    policy.reset(0)
    actions, plain, shown = [], [], []
    for _ in range(STEPS):
        plain.append(obs["image"].copy())
        action = policy.act(obs)
        shown.append(policy.video_frame(obs["image"]))
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return np.stack(actions), np.stack(plain), np.stack(shown)


def test_overlay_changes_only_the_frames_and_draws_the_newest_chunk_where_it_projects(env):
    off_actions, off_plain, off_shown = run(env, overlay=False)
    on_actions, on_plain, on_shown = run(env, overlay=True)
    np.testing.assert_array_equal(on_actions, off_actions)  # the policy never sees the drawing
    np.testing.assert_array_equal(on_plain, off_plain)
    np.testing.assert_array_equal(off_shown, off_plain)  # off: frames untouched
    k = env.intrinsics()
    style = style_for_frame(IMAGE, IMAGE)
    for step in range(len(on_shown)):
        chunk = hand_chunk(horizon=8, wrist=wrists(step // EVERY))
        for x, y, z in wrists(step // EVERY):  # projected by hand: the first wrist point gets the predicted dot
            u, v = k.fx * x / z + k.cx, k.fy * y / z + k.cy
            assert 0 <= u < IMAGE and 0 <= v < IMAGE
            np.testing.assert_array_equal(on_shown[step, int(round(v)), int(round(u))], MAGENTA)
        # The changed pixels are exactly those of this query's chunk drawn on the plain frame.
        expected = overlay_chunk(on_plain[step], k, predicted=chunk, valid=predicted_hand_valid(chunk), style=style)
        np.testing.assert_array_equal(on_shown[step], expected)
        assert (on_shown[step] != on_plain[step]).any(-1).sum() > 10


def test_recorded_rollout_videos_show_the_path_with_identical_results(env, tmp_path):
    from dexego.sim.evaluation import RolloutSpec, run_rollout

    spec = RolloutSpec("Push-Box", "seen", 0, 11, 1, 1)
    results, videos = {}, {}
    for overlay in (False, True):
        policy = model_sim_policy(
            ChangingChunks(), "Push-Box", SimPolicyConfig(query_every=EVERY, overlay=overlay), INFO
        )
        path = tmp_path / f"overlay_{overlay}.mp4"
        result = run_rollout(env, policy, spec, path)
        results[overlay] = {k: v for k, v in vars(result).items() if k != "video"}
        with av.open(str(path)) as container:
            videos[overlay] = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert results[True] == results[False]
    assert videos[True].shape == videos[False].shape and len(videos[True]) == results[True]["steps"] + 1
    k = env.intrinsics()
    x, y, z = wrists(0)[0]
    v, u = int(round(k.fy * y / z + k.cy)), int(round(k.fx * x / z + k.cx))

    def near(frame):  # H.264 blurs colours a little
        return np.abs(frame[v, u].astype(int) - MAGENTA).sum()

    assert near(videos[True][0]) + 60 < near(videos[False][0])


def test_chunk_tap_forwards_and_keeps_the_latest_chunk():
    tap = ChunkTap(ChangingChunks())
    first = tap.predict_action_chunk({})
    second = tap.predict_action_chunk({})
    assert tap.queries == 2 and tap.source.queries == 2
    np.testing.assert_array_equal(tap.latest, second)
    assert not np.array_equal(first, second)
    valid = predicted_hand_valid(np.concatenate([hand_chunk(horizon=2), np.zeros((1, 48))]))
    assert valid.tolist() == [[True, True], [True, True], [False, False]]
