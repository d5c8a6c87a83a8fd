"""Bounded resources: memory budget, idle timeout, API key before a slot."""

import threading
import time

import numpy as np
import pytest
from serve_fakes import expected_chunk, make_observation, start_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dexego.errors import ConfigError
from dexego.serve import ClientConfig, PolicyClient, ServerConfig

pytestmark = pytest.mark.timeout(60)


def _raw(url, **kwargs):
    return connect(url, compression=None, proxy=None, open_timeout=5, **kwargs)


def test_a_configuration_whose_buffers_exceed_the_memory_budget_is_refused():
    with pytest.raises(ConfigError, match=r"64 clients with messages of up to 32.0 MiB may hold \d+ MiB of observations, "
                                          r"over the memory budget of 1024 MiB"):  # fmt: skip
        ServerConfig(max_clients=64, max_message_bytes=32 * 2**20)
    config = ServerConfig(max_clients=4, max_message_bytes=2**20, max_batch=2, memory_budget_bytes=16 * 2**20)
    assert config.buffer_bound_bytes() == 4 * (2 * 2**20 + 256 * 2**10) + 4 * 2**20
    for bad in ({"idle_timeout_s": 0}, {"max_batch": 0}, {"batch_wait_ms": -1}, {"open_timeout_s": 0}):
        with pytest.raises(ConfigError):
            ServerConfig(**bad)


def test_an_idle_connection_is_closed_and_frees_its_slot():
    handle, policy = start_server(idle_timeout_s=0.5, max_clients=1)
    with handle:
        with _raw(handle.url) as ws:
            ws.recv(timeout=5)  # metadata, then nothing
            start = time.monotonic()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=10)
            assert info.value.rcvd.code == 1000 and info.value.rcvd.reason == "idle for 0.5 s"
            assert 0.4 < time.monotonic() - start < 5
        deadline = time.monotonic() + 5
        while handle.server.clients and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handle.server.clients == 0
        # PolicyClient reconnects after an idle close and re-sends: the robot never notices
        with PolicyClient(handle.url, ClientConfig(retries=3, retry_delay_s=0.05)) as client:
            obs = make_observation(1)
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
            time.sleep(0.8)
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
    assert policy.calls == 2


def test_unauthenticated_connections_take_no_slot():
    handle, policy = start_server(api_key="k", max_clients=1)
    refused, stop = [], threading.Event()

    def intruder():
        while not stop.is_set():
            try:
                with _raw(handle.url, additional_headers={"Authorization": "Api-Key wrong"}):
                    refused.append("ACCEPTED")
            except InvalidStatus as exc:
                refused.append(exc.response.status_code)

    with handle:
        intruders = [threading.Thread(target=intruder) for _ in range(4)]
        for t in intruders:
            t.start()
        try:
            with PolicyClient(handle.url, ClientConfig(api_key="k", retries=0)) as client:
                for seed in range(5):
                    obs = make_observation(seed)
                    np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
                assert handle.server.clients == 1
        finally:
            stop.set()
            for t in intruders:
                t.join(10)
    assert refused and set(refused) == {401}
