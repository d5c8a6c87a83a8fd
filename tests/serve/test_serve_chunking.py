import numpy as np
import pytest

from dexego.actions import get_space
from dexego.errors import ConfigError, InputError
from dexego.serve import ChunkedPolicy, ChunkingConfig, TemporalEnsembler, ensemble_decay


def test_ego48_decay_is_0_2_on_wrists_and_0_8_on_fingertips():
    space = get_space("ego48")
    decay = ensemble_decay("ego48")
    assert decay.shape == (48,)
    for side in ("left", "right"):
        for part in ("wrist_pos", "wrist_rot6d"):
            assert np.all(decay[space.part_slice(part, side)] == 0.2)
        assert np.all(decay[space.part_slice("fingertips", side)] == 0.8)
    assert (decay == 0.2).sum() == 18 and (decay == 0.8).sum() == 30


def test_mano_and_kp21_split_the_same_way():
    for name, hand_part in (("mano", "mano_pca"), ("kp21", "keypoints")):
        space = get_space(name)
        decay = ensemble_decay(name, arm_decay=0.1, hand_decay=0.5)
        assert np.all(decay[space.part_slice("wrist_pos", "right")] == 0.1)
        assert np.all(decay[space.part_slice(hand_part, "left")] == 0.5)


def test_two_overlapping_chunks_blend_with_exponential_weights():
    ens = TemporalEnsembler(np.array([0.2, 0.8]))
    a = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    b = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    ens.add(0, a)
    np.testing.assert_array_equal(ens.action(0), [0.0, 0.0])  # one proposal: taken as is
    ens.add(1, b)
    # step 1: a[1] (oldest, weight 1) and b[0] (weight exp(-w))
    w = np.exp(-np.array([0.2, 0.8]))
    np.testing.assert_allclose(ens.action(1), (1.0 + w * 10.0) / (1.0 + w))


def test_three_chunks_weights_follow_age_and_newest_mode_reverses_them():
    decay = np.array([0.5])
    chunks = [np.full((5, 1), v) for v in (1.0, 2.0, 4.0)]
    for favour, ranks in (("oldest", [0, 1, 2]), ("newest", [2, 1, 0])):
        ens = TemporalEnsembler(decay, favour=favour)
        for start, chunk in enumerate(chunks):
            ens.add(start, chunk)
        w = np.exp(-0.5 * np.array(ranks))
        np.testing.assert_allclose(ens.action(2), [(w * [1.0, 2.0, 4.0]).sum() / w.sum()])


def test_expired_chunks_are_forgotten_and_gaps_are_an_error():
    ens = TemporalEnsembler(np.zeros(1))
    ens.add(0, np.arange(3.0)[:, None])
    assert ens.action(2)[0] == 2.0
    with pytest.raises(InputError, match="no chunk covers step 3"):
        ens.action(3)
    with pytest.raises(InputError, match="dims"):
        ens.add(3, np.zeros((3, 2)))


class _CountingSource:
    """Chunk k (0-based query count) is k*100 + step-in-chunk, in every dimension."""

    def __init__(self, horizon=4, dim=48):
        self.horizon, self.dim, self.calls = horizon, dim, 0
        self.observations = []

    def predict_action_chunk(self, observation):
        self.observations.append(observation)
        chunk = self.calls * 100.0 + np.arange(self.horizon, dtype=np.float32)[:, None] + np.zeros(self.dim, np.float32)
        self.calls += 1
        return chunk


def test_open_loop_chunks_every_k_steps_are_played_in_order():
    source = _CountingSource(horizon=4)
    policy = ChunkedPolicy(source, ChunkingConfig(query_every=4, ensemble=False))
    actions = [policy.act({"t": t})[0] for t in range(8)]
    assert actions == [0, 1, 2, 3, 100, 101, 102, 103]
    assert source.calls == 2 and [o["t"] for o in source.observations] == [0, 4]


def test_every_step_ensembling_matches_a_direct_computation():
    source = _CountingSource(horizon=4, dim=48)
    policy = ChunkedPolicy(source, ChunkingConfig(query_every=1))
    decay = ensemble_decay("ego48")
    got = np.stack([policy.act({}) for _ in range(6)])
    for t in range(6):
        starts = [s for s in range(t + 1) if t - s < 4]  # chunks still covering t, oldest first
        proposals = np.array([[s * 100.0 + (t - s)] * 48 for s in starts])
        w = np.exp(-np.arange(len(starts))[:, None] * decay[None, :])
        np.testing.assert_allclose(got[t], (w * proposals).sum(0) / w.sum(0), rtol=1e-6)
    # the hand dims (larger decay) trust the old plan more than the wrist dims do
    assert got[3, 9] < got[3, 0]  # 9: first left fingertip dim, 0: left wrist x


def test_reset_starts_a_new_episode_and_retarget_gets_action_and_observation():
    calls = []

    def retarget(action, observation):
        calls.append((action.copy(), observation))
        return action[:30] * 2

    source = _CountingSource(horizon=4)
    policy = ChunkedPolicy(
        source, ChunkingConfig(query_every=2), observation_fn=lambda o: {"wrapped": o}, retarget=retarget
    )
    first = policy.act("obs0")
    assert first.shape == (30,) and first[0] == 0.0 and calls[0][1] == "obs0"
    assert source.observations[0] == {"wrapped": "obs0"}
    policy.act("obs1")
    policy.reset(seed=3)
    assert policy.step == 0
    after_reset = policy.act("obs2")
    np.testing.assert_array_equal(
        after_reset, np.full(30, 200.0)
    )  # only the fresh chunk: no blending with the old episode


def test_chunk_problems_are_reported():
    class Bad:
        def __init__(self, chunk):
            self.chunk = chunk

        def predict_action_chunk(self, observation):
            return self.chunk

    with pytest.raises(InputError, match="NaN"):
        ChunkedPolicy(Bad(np.full((4, 48), np.nan))).act({})
    with pytest.raises(InputError, match=r"\(H, D\)"):
        ChunkedPolicy(Bad(np.zeros(48))).act({})
    with pytest.raises(InputError, match="action space"):
        ChunkedPolicy(Bad(np.zeros((4, 30)))).act({})
    # a joint-space policy: no action space, uniform decay
    assert ChunkedPolicy(Bad(np.ones((1, 4, 30))), ChunkingConfig(action_space=None)).act({}).shape == (30,)
    short = ChunkedPolicy(Bad(np.zeros((2, 48))), ChunkingConfig(query_every=3))
    short.act({}), short.act({})
    with pytest.raises(InputError, match="shorter than the re-query interval"):
        short.act({})


def test_bad_chunking_config_is_refused():
    with pytest.raises(ConfigError):
        ChunkingConfig(query_every=0)
    with pytest.raises(ConfigError):
        ChunkingConfig(hand_decay=-1.0)
