import http.client
import logging
import re

import numpy as np
import pytest
from serve_fakes import DIM, HORIZON, EchoPolicy, expected_chunk, in_client_threads, make_observation, start_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dexego.errors import ConfigError, InputError
from dexego.serve import (
    AuthenticationError,
    ClientConfig,
    PolicyClient,
    ServerConfig,
    ServerError,
    ServerThread,
    ServerUnavailable,
    codec,
)

pytestmark = pytest.mark.timeout(60)


def _raw(url, **kwargs):
    return connect(url, compression=None, proxy=None, open_timeout=5, **kwargs)


def test_openpi_style_raw_client_gets_metadata_then_actions_with_timing(served):
    handle, _ = served
    obs = make_observation(1)
    with _raw(handle.url) as ws:
        metadata = codec.unpackb(ws.recv(timeout=5))
        assert metadata["action_space"] == "ego48" and metadata["horizon"] == HORIZON
        assert metadata["observation"]["images"]["shape"] == [-1, 3, -1, -1]
        replies = []
        for _ in range(2):
            ws.send(codec.packb(obs))
            replies.append(codec.unpackb(ws.recv(timeout=5)))
    for reply in replies:
        assert reply["actions"].shape == (HORIZON, DIM) and reply["actions"].dtype == np.float32
        np.testing.assert_array_equal(reply["actions"], expected_chunk(obs))
        assert reply["server_timing"]["infer_ms"] >= 0
    assert "prev_total_ms" not in replies[0]["server_timing"]  # openpi: only from the second reply on
    assert replies[1]["server_timing"]["prev_total_ms"] >= replies[0]["server_timing"]["infer_ms"]


def test_healthz_answers_ok_over_plain_http(served):
    handle, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=5)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.read().strip() == b"OK"


def test_server_listens_on_loopback_by_default():
    assert ServerConfig().host == "127.0.0.1"
    handle, _ = start_server()
    with handle:
        assert handle.url.startswith("ws://127.0.0.1:")


def test_client_predicts_exact_chunks_and_records_timing(served):
    handle, policy = served
    with PolicyClient(handle.url) as client:
        assert client.metadata["max_message_bytes"] == ServerConfig().max_message_bytes
        for seed in range(3):
            obs = make_observation(seed)
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
        assert set(client.last_timing) == {"infer_ms", "prev_total_ms"}
    assert policy.calls == 3


def test_many_clients_at_once_each_get_their_own_answers_and_inference_is_serialised():
    handle, policy = start_server(EchoPolicy(delay_s=0.005))

    def call(client, index, step):
        obs = make_observation(100 * index + step)
        return np.array_equal(client.predict_action_chunk(obs), expected_chunk(obs))

    with handle:
        answers, failures = in_client_threads(handle.url, 8, 5, call, barrier=False, timeout_s=30)
    assert failures == [] and sorted(answers) == [(i, s) for i in range(8) for s in range(5)]
    assert all(answers.values())
    assert policy.calls == 40 and policy.max_concurrent == 1


def test_api_key_is_required_when_configured():
    handle, policy = start_server(api_key="s3cret")
    obs = make_observation(0)
    with handle:
        for key in (None, "wrong", "s3cret-but-longer"):
            with pytest.raises(AuthenticationError, match="API key"):
                PolicyClient(handle.url, ClientConfig(api_key=key, retries=0))
        with pytest.raises(InvalidStatus) as info:
            _raw(handle.url, additional_headers={"Authorization": "Bearer s3cret"})
        assert info.value.response.status_code == 401
        with PolicyClient(handle.url, ClientConfig(api_key="s3cret")) as client:
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
        conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=5)
        conn.request("GET", "/healthz")  # health checks need no key
        assert conn.getresponse().status == 200
    assert policy.calls == 1


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda o: o.pop("images"), "images: missing"),
        (lambda o: o.pop("instruction"), "instruction: missing"),
        (lambda o: o.update(state=np.zeros(47, np.float32)), r"state: expected shape \(48\)"),
        (lambda o: o.update(images=np.zeros((6, 8, 8), np.uint8)), "images: expected shape"),
        (
            lambda o: o.update(images=o["images"].astype(np.float32)),
            r"images: float images must hold values in \[0, 1\], got 0 to 255",
        ),
        (
            lambda o: o.update(images=o["images"].astype(np.uint16)),
            r"images: expected uint8 \(0..255\) or float in \[0, 1\], got uint16",
        ),
        (lambda o: o.update(images=np.zeros((0, 3, 16, 16), np.uint8)), r"images: empty: shape \(0, 3, 16, 16\)"),
        (lambda o: o.update(images=np.zeros((6, 3, 0, 0), np.uint8)), r"images: empty: shape \(6, 3, 0, 0\)"),
        (
            lambda o: o.update(image_mask=np.array([1, 1, 1, 1, 1, 0], bool)),
            "image_mask: the current .last. frame must be a real frame",
        ),
        (lambda o: o.update(image_mask=np.ones(5, bool)), r"image_mask: expected one entry per frame \(6\)"),
        (
            lambda o: o.update(state=np.full(48, 1e30, np.float32)),
            "state: the left hand holds 1e.30, beyond the sane range",
        ),
        (
            lambda o: o["state"].__setitem__(30, np.nan),
            "state: NaN or inf in the right hand, which state_valid marks valid",
        ),
        (
            lambda o: o.update(fov=np.array([1e30, 1.0], np.float32)),
            r"fov: each field of view must be in \(0, pi\) radians",
        ),
        (lambda o: o.update(fov=np.array([0.0, 1.0], np.float32)), r"fov: each field of view must be in \(0, pi\)"),
        (lambda o: o.update(fov=np.array([1.0, -0.5], np.float32)), r"fov: each field of view must be in \(0, pi\)"),
        (lambda o: o.update(fov=np.array([np.pi, 1.0], np.float32)), r"fov: each field of view must be in \(0, pi\)"),
        (
            lambda o: o.update(intrinsics=np.zeros(4, np.float32)),
            "intrinsics: focal lengths fx, fy must be positive pixels, got 0, 0",
        ),
        (
            lambda o: o.update(intrinsics=np.array([np.inf, 1, 2, 3], np.float32)),
            "intrinsics: contains NaN or infinite",
        ),
        (lambda o: o.update(fov=np.array([np.nan, 1.0], np.float32)), "fov: contains NaN"),
        (lambda o: o.pop("state_valid"), "state_valid: missing"),
        (lambda o: o.update(instruction=np.zeros(3)), "instruction: expected a string"),
    ],
)
def test_bad_observations_get_a_clear_error_and_the_server_keeps_serving(served, mutate, problem):
    handle, policy = served
    bad = make_observation(0)
    mutate(bad)
    with PolicyClient(handle.url, ClientConfig(retries=0)) as client:
        with pytest.raises(ServerError, match=f"dexego serve: bad observation: {problem}") as info:
            client.infer(bad)
        assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
        good = make_observation(5)  # the same client reconnects and carries on
        np.testing.assert_array_equal(client.predict_action_chunk(good), expected_chunk(good))
    assert policy.calls == 1


def test_error_frame_is_text_then_the_connection_closes_with_a_code(served):
    handle, _ = served
    with _raw(handle.url) as ws:
        ws.recv(timeout=5)
        ws.send(b"\xc1 not msgpack")
        text = ws.recv(timeout=5)
        assert isinstance(text, str) and "bad observation" in text and "not valid msgpack" in text
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1007


def test_a_failing_policy_gets_a_one_line_error_and_the_traceback_goes_to_the_server_log(served, caplog):
    handle, policy = served
    with caplog.at_level(logging.ERROR, logger="dexego.serve"), _raw(handle.url) as ws:
        ws.recv(timeout=5)
        ws.send(codec.packb(make_observation(0, instruction="boom")))
        text = ws.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1011
    assert re.fullmatch(r"dexego serve: inference failed: RuntimeError \(error (\d+) in the server log\)", text), text
    error_id = re.search(r"error (\d+)", text).group(1)
    assert "/" not in text and "exploded" not in text  # no path, no traceback, no internals
    logged = [r for r in caplog.records if f"error {error_id}" in r.getMessage()]
    assert logged and "exploded on purpose" in str(logged[0].exc_info[1])
    with PolicyClient(handle.url) as client:
        obs = make_observation(2)
        np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))


def test_the_server_never_returns_non_finite_actions():
    class Overflowing(EchoPolicy):
        def predict_action_chunk(self, observation):
            chunk = super().predict_action_chunk(observation)
            if observation["instruction"] == "overflow":
                chunk[3, 5], chunk[0, 0] = np.nan, np.inf
            return chunk

    handle, policy = start_server(Overflowing())
    with handle, PolicyClient(handle.url, ClientConfig(retries=0)) as client:
        with pytest.raises(ServerError, match=r"dexego serve: non-finite actions: the policy's actions for this observation "
                                              r"hold 2 NaN or infinite values; none were sent"):  # fmt: skip
            client.infer(make_observation(0, instruction="overflow"))
        obs = make_observation(1)
        np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
    assert policy.calls == 2


def test_oversized_messages_are_refused_by_server_and_client():
    handle, policy = start_server(max_message_bytes=64 * 1024)
    big = make_observation(0, size=96)  # 6*3*96*96 bytes = 166 KB
    with handle:
        with _raw(handle.url) as ws:
            ws.recv(timeout=5)
            ws.send(codec.packb(big))
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            assert info.value.rcvd.code == 1009
        with PolicyClient(handle.url) as client:
            with pytest.raises(InputError, match="exceeds the server's limit"):
                client.infer(big)
            small = make_observation(1)
            np.testing.assert_array_equal(client.predict_action_chunk(small), expected_chunk(small))
    assert policy.calls == 1


def test_client_reconnects_after_a_server_restart():
    handle, _ = start_server()
    port = handle.port
    client = PolicyClient(handle.url, ClientConfig(retries=5, retry_delay_s=0.05))
    obs = make_observation(3)
    np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
    handle.close()
    restarted, policy = start_server(port=port)
    with restarted, client:
        np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
    assert policy.calls == 1


def test_client_times_out_on_a_slow_policy_and_reports_unreachable_servers():
    handle, _ = start_server(EchoPolicy(delay_s=1.0))
    with handle:
        with PolicyClient(handle.url, ClientConfig(response_timeout_s=0.2)) as client:
            with pytest.raises(ServerUnavailable, match="no reply within 0.2 s"):
                client.infer(make_observation(0))
    with pytest.raises(ServerUnavailable, match="cannot connect"):
        PolicyClient(handle.url, ClientConfig(retries=1, retry_delay_s=0.01, open_timeout_s=1))


def test_bad_addresses_and_configs_are_refused():
    with pytest.raises(ConfigError, match="ws://"):
        PolicyClient("http://127.0.0.1:1")
    with pytest.raises(ConfigError):
        ServerConfig(port=70000)
    with pytest.raises(ConfigError):
        ServerConfig(api_key="  ")
    with pytest.raises(ConfigError):
        ClientConfig(response_timeout_s=0)


def test_a_taken_port_is_reported_when_starting():
    handle, _ = start_server()
    with handle:
        with pytest.raises(OSError):
            start_server(port=handle.port)


def test_server_thread_url_brackets_ipv6():
    server_thread = ServerThread.__new__(ServerThread)
    server_thread.server = type("S", (), {"config": ServerConfig(host="::1")})()
    server_thread.port = 9
    assert server_thread.url == "ws://[::1]:9"


def test_clients_beyond_the_limit_are_turned_away_with_503():
    handle, _ = start_server(max_clients=2)
    with handle:
        with _raw(handle.url) as first, _raw(handle.url) as second:
            first.recv(timeout=5), second.recv(timeout=5)
            with pytest.raises(InvalidStatus) as info:
                _raw(handle.url)
            assert info.value.response.status_code == 503
            with pytest.raises(ServerUnavailable, match="HTTP 503"):
                PolicyClient(handle.url, ClientConfig(retries=1, retry_delay_s=0.01))
        # Room again once the server has run the closed connections' handlers; their clean-up can lag the clients'
        # close on a loaded machine, so the client may get 503 a few times first (retries: up to 12.75 s in all).
        with PolicyClient(handle.url, ClientConfig(retries=8, retry_delay_s=0.05)) as client:
            obs = make_observation(0)
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))


def test_a_server_object_can_be_served_again_after_stopping():
    handle, policy = start_server()
    server = handle.server
    handle.close()
    with ServerThread(server) as again, PolicyClient(again.url) as client:
        obs = make_observation(1)
        np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
    assert policy.calls == 1


def test_the_policy_own_input_errors_are_reported_as_bad_observations_without_traceback():
    class Picky:
        def predict_action_chunk(self, observation):
            raise InputError("/srv/models/secret/config.json", "fov", "must be positive")

    handle, _ = start_server(Picky())
    with handle, _raw(handle.url) as ws:
        ws.recv(timeout=5)
        ws.send(codec.packb(make_observation(0)))
        text = ws.recv(timeout=5)
        assert text == "dexego serve: bad observation: fov: must be positive"  # the field and the problem, no path
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1007
