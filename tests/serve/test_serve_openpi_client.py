"""openpi's own client package against `dexego serve`, and dexego's client against an openpi-encoding server.

openpi-client is a dev dependency (installed by `make install`), so these run in the default test command.
"""

import asyncio
import threading
import traceback

import numpy as np
import openpi_client.msgpack_numpy as openpi_msgpack_numpy
import pytest
from openpi_client.action_chunk_broker import ActionChunkBroker
from openpi_client.websocket_client_policy import WebsocketClientPolicy
from serve_fakes import (
    DIM,
    HORIZON,
    expected_chunk,
    in_client_threads,
    make_observation,
    policy_observation,
    serve_through_cli,
)
from websockets.asyncio.server import serve
from websockets.frames import CloseCode

from dexego.serve import ClientConfig, PolicyClient, ServerError

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("no_proxy"),
    # openpi-client 0.1.2 calls websockets' connect() without a context manager: its warning, not ours
    pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def dexego_serve(tmp_path_factory):
    """`dexego serve` (the CLI's server) of a small real dexego Policy, on a free loopback port."""
    models = pytest.importorskip("dexego.models")
    from dexego.config import load_config

    checkpoint = tmp_path_factory.mktemp("openpi") / "policy"
    models.Policy(load_config(models.PolicyConfig, {"horizon": 8}), None).save(checkpoint)
    with serve_through_cli(checkpoint) as handle:
        yield handle, models.Policy.load(checkpoint)


def test_openpi_websocket_client_policy_infers_against_dexego_serve(dexego_serve):
    handle, local = dexego_serve
    client = WebsocketClientPolicy(host=handle.url)
    try:
        metadata = client.get_server_metadata()
        assert metadata["action_space"] == "ego48" and metadata["horizon"] == 8 and metadata["action_dim"] == 48
        for step in range(3):
            obs = policy_observation(step)
            reply = client.infer(obs)
            assert isinstance(reply["actions"], np.ndarray) and reply["actions"].shape == (8, 48)
            np.testing.assert_array_equal(reply["actions"], local.predict_action_chunk(obs))
            assert reply["server_timing"]["infer_ms"] > 0
    finally:
        client._ws.close()


def test_openpi_action_chunk_broker_plays_dexego_chunks_step_by_step(dexego_serve):
    handle, local = dexego_serve
    served_before = handle.server.requests_served
    client = WebsocketClientPolicy(host=handle.url)
    try:
        broker = ActionChunkBroker(client, action_horizon=8)
        first, second = policy_observation(10), policy_observation(11)
        steps = [broker.infer(first if k < 8 else second) for k in range(9)]
    finally:
        client._ws.close()
    chunk, next_chunk = local.predict_action_chunk(first), local.predict_action_chunk(second)
    for k in range(8):  # one query, then its chunk played one action per step
        np.testing.assert_array_equal(steps[k]["actions"], chunk[k])
    np.testing.assert_array_equal(steps[8]["actions"], next_chunk[0])  # the chunk ran out: a new query
    assert handle.server.requests_served - served_before == 2


def test_openpi_client_gets_a_one_line_error_for_a_bad_observation(dexego_serve):
    handle, _ = dexego_serve
    client = WebsocketClientPolicy(host=handle.url)
    bad = policy_observation(0)
    bad["state"] = np.zeros(47, np.float32)
    try:
        with pytest.raises(
            RuntimeError,
            match=r"Error in inference server:\ndexego serve: bad observation: state: expected shape \(48\)",
        ) as info:
            client.infer(bad)
    finally:
        client._ws.close()
    text = str(info.value).split("\n", 1)[1]
    assert "\n" not in text and "Traceback" not in text


class _OpenpiStyleServer:
    """A policy server that encodes with openpi-client's own msgpack_numpy, as openpi's WebsocketPolicyServer does."""

    def __init__(self, metadata: dict):
        self.metadata = metadata
        self.received: list[dict] = []
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    async def _handler(self, ws) -> None:
        packer = openpi_msgpack_numpy.Packer()
        await ws.send(packer.pack(self.metadata))
        async for message in ws:
            try:
                obs = openpi_msgpack_numpy.unpackb(message)
                self.received.append(obs)
                await ws.send(packer.pack({"actions": expected_chunk(obs), "server_timing": {"infer_ms": 0.5}}))
            except Exception:
                await ws.send(traceback.format_exc())
                await ws.close(code=CloseCode.INTERNAL_ERROR, reason="Internal server error")
                return

    async def _main(self) -> None:
        self._stop = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        async with serve(self._handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


def test_dexego_policy_client_talks_to_an_openpi_encoding_server():
    server = _OpenpiStyleServer({"action_space": "ego48", "horizon": HORIZON, "fov": np.array([1.0, 0.5], np.float32)})
    try:
        with PolicyClient(f"ws://127.0.0.1:{server.port}", ClientConfig(retries=0)) as client:
            metadata = client.metadata
            assert metadata["horizon"] == HORIZON
            np.testing.assert_array_equal(metadata["fov"], np.array([1.0, 0.5], np.float32))
            for seed in range(3):
                obs = make_observation(seed)
                reply = client.infer(obs)
                assert reply["actions"].dtype == np.float32 and reply["actions"].shape == (HORIZON, DIM)
                np.testing.assert_array_equal(reply["actions"], expected_chunk(obs))
                assert client.last_timing == {"infer_ms": 0.5}
            # openpi's decoder read dexego's arrays as the same arrays
            np.testing.assert_array_equal(server.received[0]["images"], make_observation(0)["images"])
            assert (
                server.received[0]["state"].dtype == np.float32
                and server.received[0]["instruction"] == "pick up the can"
            )
            bad = make_observation(0)
            del bad["images"]  # the openpi server's traceback text arrives as a ServerError
            with pytest.raises(ServerError, match="KeyError"):
                client.infer(bad)
    finally:
        server.close()


def test_concurrent_clients_of_dexego_serve_get_batched_answers_equal_to_in_process(dexego_serve):
    """`dexego serve` batches by default: a real Policy's batched forward pass answers each client as in-process."""
    handle, local = dexego_serve
    assert handle.server.config.max_batch == 16
    before = handle.server.batches_run

    def call(client, index, step):
        return client.predict_action_chunk(policy_observation(20 + 4 * index + step))

    answers, failures = in_client_threads(handle.url, 4, 4, call)
    assert failures == [] and len(answers) == 16
    for (index, step), chunk in answers.items():
        np.testing.assert_allclose(
            chunk, local.predict_action_chunk(policy_observation(20 + 4 * index + step)), rtol=1e-4, atol=1e-5
        )
    assert handle.server.largest_batch > 1 and handle.server.batches_run - before < 16
