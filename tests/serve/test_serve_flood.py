"""A flood of bad messages (bounded count and time, loopback only) while a good client keeps getting answers."""

import http.client
import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np
import pytest
from serve_fakes import EchoPolicy, expected_chunk, make_observation, start_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dexego.serve import ClientConfig, PolicyClient, codec

pytestmark = pytest.mark.timeout(90)

KEY = "flood-test-key"
LIMIT = 64 * 1024
DEADLINE_S = 40.0


class _WritesAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _with(**changes):
    obs = make_observation(7)
    obs.update(changes)
    return {k: v for k, v in obs.items() if v is not None}


def _bad_messages(marker):
    good = codec.packb(make_observation(7))
    raw_obs = msgpack.unpackb(codec.packb(make_observation(7, size=4)))  # wire maps, to splice forged arrays into
    array = lambda data, dtype, shape: {"__ndarray__": True, "data": data, "dtype": dtype, "shape": shape}  # noqa: E731
    return {
        "oversized": b"\x00" * (LIMIT + 1),
        "truncated": good[: len(good) // 2],
        "not msgpack": b"\xc1\xc1 GET /etc/passwd",
        "empty": b"",
        "text frame": "please act",
        "not a map": codec.packb([1, 2, 3]),
        "missing images": codec.packb(_with(images=None)),
        "missing instruction": codec.packb(_with(instruction=None)),
        "wrong state shape": codec.packb(_with(state=np.zeros(47, np.float32))),
        "wrong image rank": codec.packb(_with(images=np.zeros((3, 8, 8), np.uint8))),
        "nan fov": codec.packb(_with(fov=np.full(2, np.inf, np.float32))),
        "object dtype pickle": msgpack.packb(
            {**raw_obs, "images": array(pickle.dumps(_WritesAFile(marker)), "|O", [1])}
        ),
        "void dtype": msgpack.packb({"images": array(b"\x00" * 8, "|V8", [1]), "instruction": "x"}),
        "complex dtype": msgpack.packb({"images": array(b"\x00" * 16, "<c16", [1]), "instruction": "x"}),
        "shape bomb": msgpack.packb({"images": array(b"\x00" * 4, "|u1", [10**6, 10**6, 3, 4]), "instruction": "x"}),
        "nesting bomb": b"\x91" * 50_000 + b"\x01",
        "ext type": msgpack.packb({"images": msgpack.ExtType(3, b"\x00" * 16)}),
    }


def _send_bad(port, name, payload):
    """One bad message on a fresh connection; returns how the server refused it."""
    with connect(f"ws://127.0.0.1:{port}", compression=None, proxy=None, open_timeout=10,
                 additional_headers={"Authorization": f"Api-Key {KEY}"}, max_size=None) as ws:  # fmt: skip
        ws.recv(timeout=10)  # metadata
        ws.send(payload)
        try:
            reply = ws.recv(timeout=10)
        except ConnectionClosed as exc:
            return f"closed {exc.rcvd.code if exc.rcvd else None}"
        if not isinstance(reply, str):
            return f"ANSWERED {name}"
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as exc:
            return f"error text, closed {exc.rcvd.code}" if "bad observation" in reply else f"UNCLEAR {reply[:80]}"
        return "NOT CLOSED"


def _wrong_key(port):
    try:
        with connect(
            f"ws://127.0.0.1:{port}", proxy=None, open_timeout=10, additional_headers={"Authorization": "Api-Key nope"}
        ):
            return "ACCEPTED"
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"


def _raw_tcp_garbage(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00 this is not http\r\n\r\n")
        sock.recv(1024)  # the server answers with an HTTP error or just closes
    return "tcp closed"


def test_flood_of_bad_messages_is_refused_while_a_good_client_is_served(tmp_path):
    marker = tmp_path / "code-ran"
    handle, policy = start_server(api_key=KEY, max_message_bytes=LIMIT)
    bad = _bad_messages(marker)
    outcomes: list[tuple[str, str]] = []
    good_results = {"ok": 0, "wrong": 0, "errors": [], "during_flood": 0}
    flood_done = threading.Event()
    start = time.monotonic()

    def good_client():
        obs = make_observation(11)
        want = expected_chunk(obs)
        with PolicyClient(handle.url, ClientConfig(api_key=KEY, response_timeout_s=10)) as client:
            for _ in range(2000):  # bounded; normally ends when the flood does
                if time.monotonic() - start > DEADLINE_S or (flood_done.is_set() and good_results["ok"] >= 5):
                    break
                try:
                    got = client.predict_action_chunk(obs)
                except Exception as exc:  # counted as a failure below
                    good_results["errors"].append(repr(exc))
                    continue
                good_results["ok" if np.array_equal(got, want) else "wrong"] += 1
                if not flood_done.is_set():
                    good_results["during_flood"] += 1

    def flooder(rounds):
        for _ in range(rounds):
            for name, payload in bad.items():
                if time.monotonic() - start > DEADLINE_S:
                    return
                try:
                    outcomes.append((name, _send_bad(handle.port, name, payload)))
                except Exception as exc:  # a connection the server dropped without a close frame
                    outcomes.append((name, f"EXCEPTION {exc!r}"))
            outcomes.append(("wrong api key", _wrong_key(handle.port)))
            outcomes.append(("tcp garbage", _raw_tcp_garbage(handle.port)))

    with handle:
        good = threading.Thread(target=good_client)
        floods = [threading.Thread(target=flooder, args=(2,)) for _ in range(3)]
        good.start()
        for t in floods:
            t.start()
        for t in floods:
            t.join(DEADLINE_S + 10)
        flood_done.set()
        good.join(DEADLINE_S + 10)
        conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200  # still alive

    expected_total = 3 * 2 * (len(bad) + 2)
    assert len(outcomes) == expected_total, "the flood hit the time limit"
    for name, outcome in outcomes:
        if name == "oversized":
            assert outcome == "closed 1009", (name, outcome)
        elif name == "wrong api key":
            assert outcome == "http 401", (name, outcome)
        elif name == "tcp garbage":
            assert outcome == "tcp closed"
        else:
            assert outcome == "error text, closed 1007", (name, outcome)
    assert good_results["errors"] == [] and good_results["wrong"] == 0
    assert good_results["during_flood"] > 0 and good_results["ok"] >= 5
    assert policy.calls == good_results["ok"]  # no bad message ever reached the policy
    assert not marker.exists()
    assert handle.server.requests_rejected >= 3 * 2 * (len(bad) - 1)


_FLOOD_SCRIPT = r"""
import asyncio, json, sys, time
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, ConnectionClosed

port, key, seconds, payload_path = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
payload = open(payload_path, "rb").read()
url = f"ws://127.0.0.1:{port}"
counts = {"sent": 0, "401": 0, "503": 0, "idle closed": 0, "other": 0}
deadline = time.monotonic() + seconds

async def blaster():  # authenticated: sends the largest allowed observation as fast as it can, never reads a reply
    while time.monotonic() < deadline:
        try:
            async with connect(url, additional_headers={"Authorization": f"Api-Key {key}"}, max_size=None,
                               compression=None, proxy=None, open_timeout=5, close_timeout=1) as ws:
                while time.monotonic() < deadline:
                    await asyncio.wait_for(ws.send(payload), max(0.05, deadline - time.monotonic()))
                    counts["sent"] += 1
        except InvalidStatus as exc:
            counts[str(exc.response.status_code)] = counts.get(str(exc.response.status_code), 0) + 1
            await asyncio.sleep(0.05)
        except (TimeoutError, ConnectionClosed, OSError):
            pass

async def wrong_key():
    while time.monotonic() < deadline:
        try:
            async with connect(url, additional_headers={"Authorization": "Api-Key wrong"}, proxy=None, open_timeout=5):
                counts["other"] += 1
        except InvalidStatus as exc:
            counts[str(exc.response.status_code)] = counts.get(str(exc.response.status_code), 0) + 1
        except (TimeoutError, OSError):
            pass

async def idler():  # authenticated, then silent
    while time.monotonic() < deadline:
        try:
            async with connect(url, additional_headers={"Authorization": f"Api-Key {key}"}, proxy=None, open_timeout=5) as ws:
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.monotonic()))
                except ConnectionClosed:
                    counts["idle closed"] += 1
        except InvalidStatus as exc:
            counts[str(exc.response.status_code)] = counts.get(str(exc.response.status_code), 0) + 1
            await asyncio.sleep(0.1)
        except (TimeoutError, OSError):
            pass

async def main():
    await asyncio.gather(*[blaster() for _ in range(6)], *[wrong_key() for _ in range(20)], *[idler() for _ in range(4)])

asyncio.run(main())
print(json.dumps(counts), flush=True)
"""


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident set size from /proc")
def test_a_flood_leaves_the_server_within_its_memory_budget_and_a_good_client_served(tmp_path):
    """Authenticated clients send the largest allowed observations without reading replies, others send wrong keys or
    nothing at all (bounded: 6 s, loopback). The server's resident memory stays within the configured budget and the
    good client keeps getting exact answers."""
    # Observation buffers are bounded by 16.5 MiB here (buffer_bound_bytes); the rest is headroom for the interpreter,
    # the in-process good client and allocator slack. Without the one-message-in-flight bound this flood adds ~90 MiB.
    budget = 32 * 2**20
    handle, policy = start_server(EchoPolicy(delay_s=0.01), api_key=KEY, max_message_bytes=2**20, max_clients=6,
                                  memory_budget_bytes=budget, idle_timeout_s=1.0, open_timeout_s=2.0)  # fmt: skip
    obs = make_observation(3, size=236)  # 6 x 3 x 236 x 236 bytes: just under the 1 MiB limit
    payload = codec.packb(obs)
    assert 0.95 * 2**20 < len(payload) <= 2**20
    (tmp_path / "payload").write_bytes(payload)
    good = {"ok": 0, "wrong": 0, "errors": []}
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.01)

    def good_client(client: PolicyClient) -> None:
        want = expected_chunk(obs)
        while not stop.is_set():
            try:
                got = client.predict_action_chunk(obs)
            except Exception as exc:  # counted as a failure below
                good["errors"].append(repr(exc))
                continue
            good["ok" if np.array_equal(got, want) else "wrong"] += 1

    with handle, PolicyClient(handle.url, ClientConfig(api_key=KEY, response_timeout_s=20)) as client:
        for _ in range(5):  # warm-up: the good client's own buffers are part of the baseline
            client.predict_action_chunk(obs)
        baseline = max(_rss_bytes() for _ in range(20))
        sampler, served = threading.Thread(target=sample), threading.Thread(target=good_client, args=(client,))
        sampler.start(), served.start()
        flood = subprocess.run([sys.executable, "-c", _FLOOD_SCRIPT, str(handle.port), KEY, "6", str(tmp_path / "payload")],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        stop.set()
        sampler.join(10), served.join(30)
    assert flood.returncode == 0, flood.stderr[-2000:]
    counts = json.loads(flood.stdout.strip().splitlines()[-1])
    assert counts["sent"] >= 10 and counts["401"] >= 10 and counts["503"] >= 1 and counts["other"] == 0, counts
    assert good["errors"] == [] and good["wrong"] == 0 and good["ok"] >= 10, good
    assert handle.server.config.buffer_bound_bytes() <= budget
    growth = peak[0] - baseline
    print(
        f"resident memory: {baseline / 2**20:.1f} MiB before the flood, peak {peak[0] / 2**20:.1f} MiB (+{growth / 2**20:.1f} MiB); "
        f"budget {budget / 2**20:.0f} MiB; flood {counts}; good client {good['ok']} exact answers"
    )
    assert growth <= budget, (
        f"resident memory grew by {growth / 2**20:.1f} MiB, over the budget of {budget / 2**20:.0f} MiB"
    )
