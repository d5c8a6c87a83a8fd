"""Concurrent requests are stacked into one forward pass; every client still gets exactly its own answer."""

import numpy as np
import pytest
from serve_fakes import BatchEchoPolicy, expected_chunk, in_client_threads, make_observation, start_server

from dexego.serve import PolicyClient

pytestmark = pytest.mark.timeout(60)


def _clients_in_parallel(url, count, steps, observation_for):
    """Each client's failures, and a reply that is not exactly its own observation's chunk."""

    def call(client, index, step):
        obs = observation_for(index, step)
        return obs, client.predict_action_chunk(obs)

    answers, failures = in_client_threads(url, count, steps, call, timeout_s=40)
    wrong = [(i, s) for (i, s), (obs, got) in sorted(answers.items()) if not np.array_equal(got, expected_chunk(obs))]
    return failures + [(i, s, "wrong answer") for i, s in wrong]


def test_concurrent_clients_are_batched_and_each_gets_its_own_answer():
    policy = BatchEchoPolicy(delay_s=0.02)
    handle, _ = start_server(policy, max_batch=8, batch_wait_ms=5)
    with handle:
        failures = _clients_in_parallel(handle.url, 8, 5, lambda i, s: make_observation(100 * i + s))
    assert failures == []
    assert sum(policy.batch_sizes) == 40 and max(policy.batch_sizes) > 1
    assert len(policy.batch_sizes) < 40 and handle.server.largest_batch == max(policy.batch_sizes) <= 8
    assert policy.max_concurrent == 1  # one forward pass at a time


def test_a_lone_client_is_never_batched_or_kept_waiting():
    policy = BatchEchoPolicy()
    handle, _ = start_server(policy, max_batch=16, batch_wait_ms=500)  # a wait would show as 0.5 s per request
    with handle, PolicyClient(handle.url) as client:
        for seed in range(5):
            obs = make_observation(seed)
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
            assert client.last_timing["infer_ms"] < 250
    assert policy.batch_sizes == [1] * 5


def test_observations_of_other_shapes_go_into_separate_passes():
    policy = BatchEchoPolicy(delay_s=0.02)
    handle, _ = start_server(policy, max_batch=8, batch_wait_ms=5)
    with handle:
        failures = _clients_in_parallel(
            handle.url, 6, 4, lambda i, s: make_observation(10 * i + s, size=8 + 4 * (i % 2))
        )
    assert failures == [] and sum(policy.batch_sizes) == 24


def test_one_bad_observation_in_a_batch_fails_only_its_own_client():
    policy = BatchEchoPolicy(delay_s=0.02)
    handle, _ = start_server(policy, max_batch=8, batch_wait_ms=20)

    def observation_for(index, step):
        return make_observation(
            10 * index + step, instruction="refuse me" if index == 0 and step == 2 else "pick up the can"
        )

    with handle:
        failures = _clients_in_parallel(handle.url, 6, 4, observation_for)
    assert failures == [
        (0, 2, f"{handle.url}: dexego serve: bad observation: instruction: this policy refuses 'refuse me'")
    ]


def test_unchecked_maps_that_cannot_be_batched_are_run_alone():
    """Without an observation spec (dexego serve --no-validate) a map may hold bytes keys beside text keys; such a map
    cannot be sorted into a batch signature and is run on its own, without stalling the other requests."""
    from dexego.serve import PolicyServer, ServerConfig, ServerThread

    policy = BatchEchoPolicy(delay_s=0.05)
    server = PolicyServer(policy, ServerConfig(port=0, max_batch=8, batch_wait_ms=20))

    def observation_for(index, step):
        obs = make_observation(10 * index + step)
        if index == 0:
            obs[b"raw"] = np.zeros(2, np.float32)  # a bytes key (msgpack bin): not comparable with the text keys
        return obs

    with ServerThread(server) as handle:
        failures = _clients_in_parallel(handle.url, 4, 3, observation_for)
    assert failures == [] and sum(policy.batch_sizes) == 12
