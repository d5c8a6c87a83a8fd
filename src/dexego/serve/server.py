"""The policy server: openpi's websocket protocol in front of any object with ``predict_action_chunk``.

Per connection: send the metadata, then loop {receive a msgpack observation,
check it, infer, send ``{"actions", "server_timing"}``}. Inference runs in
one worker thread, so the event loop keeps accepting clients and answering
``/healthz`` while a model computes, and a model that is not thread-safe is
never entered twice at once (requests are served one at a time, in arrival
order). A bad message ends only its own connection: the client gets a text
frame saying what was wrong, then a close frame (1007 for a bad observation,
1011 with the traceback when the policy itself fails, 1009 from websockets
for an oversized frame).

``server_timing``: ``infer_ms`` is the policy call; ``prev_total_ms`` (from a
connection's second reply on, as openpi) is the server-side time of the
previous request, from its arrival to its reply being sent.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import ipaddress
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from dexego.errors import ConfigError, InputError
from dexego.serve import codec
from dexego.serve.spec import ObservationSpec

log = logging.getLogger("dexego.serve")

PROTOCOL = "openpi-websocket-msgpack-numpy"
HEALTH_PATH = "/healthz"


class ChunkPolicy(Protocol):
    def predict_action_chunk(self, observation: dict) -> np.ndarray: ...


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"  # loopback unless asked otherwise
    port: int = 8000  # 0 picks a free port
    api_key: str | None = None  # clients must send "Authorization: Api-Key <key>"
    max_message_bytes: int = 32 * 2**20  # larger frames close the connection (1009)
    max_clients: int = 64  # further handshakes get 503
    ping_interval_s: float | None = 20.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port must be in 0..65535, got {self.port}")
        if self.max_message_bytes < 1024:
            raise ConfigError(f"serve: max_message_bytes must be at least 1024, got {self.max_message_bytes}")
        if self.max_clients < 1:
            raise ConfigError(f"serve: max_clients must be at least 1, got {self.max_clients}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("serve: api_key must not be empty")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """Serves ``policy`` (anything with ``predict_action_chunk(observation) -> (H, D) array``)."""

    def __init__(
        self,
        policy: ChunkPolicy,
        config: ServerConfig = ServerConfig(),
        metadata: dict[str, Any] | None = None,
        observation_spec: ObservationSpec | None = None,
    ):
        self.policy = policy
        self.config = config
        self.observation_spec = observation_spec
        self.metadata = {
            **(metadata or {}),
            "protocol": PROTOCOL,
            "max_message_bytes": config.max_message_bytes,
        }
        if observation_spec is not None:
            self.metadata.setdefault("observation", observation_spec.describe())
        self._metadata_bytes = codec.packb(self.metadata)  # fails now, not on the first client, if not msgpack-able
        self._executor: ThreadPoolExecutor | None = None  # the one inference thread, made by start()
        self._clients = 0
        self.requests_served = 0
        self.requests_rejected = 0

    # --- HTTP side of the handshake: health check, API key, client limit ---

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == HEALTH_PATH:
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self.config.api_key is not None and not _api_key_matches(request.headers, self.config.api_key):
            self.requests_rejected += 1
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong API key (send 'Authorization: Api-Key <key>')\n")
        if self._clients >= self.config.max_clients:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, f"server full ({self.config.max_clients} clients)\n")
        return None

    # --- one websocket connection ---

    async def _handle(self, ws: ServerConnection) -> None:
        self._clients += 1
        try:
            await ws.send(self._metadata_bytes)
            prev_total_ms: float | None = None
            while True:
                message = await ws.recv()
                start = time.perf_counter()
                reply = await self._answer(ws, message, prev_total_ms)
                if reply is None:
                    return
                await ws.send(reply)
                prev_total_ms = (time.perf_counter() - start) * 1000.0
        except ConnectionClosed:
            pass
        finally:
            self._clients -= 1

    async def _answer(self, ws: ServerConnection, message: Any, prev_total_ms: float | None) -> bytes | None:
        """The reply frame, or None after sending an error and closing."""
        try:
            if isinstance(message, str):
                raise InputError("observation", None, "expected a binary msgpack frame, got a text frame")
            observation = codec.unpackb(message)
            if isinstance(observation, dict) and "__ctrl__" in observation:  # openpi episode markers: nothing to do
                return codec.packb({})
            if self.observation_spec is not None:
                self.observation_spec.validate(observation)
            elif not isinstance(observation, dict):
                raise InputError("observation", None, f"expected a map of named entries, got {type(observation).__name__}")
        except InputError as exc:
            await self._refuse(ws, exc)
            return None

        infer_start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            actions = await loop.run_in_executor(self._executor, self._infer, observation)
        except InputError as exc:  # the policy's own input checks: still the client's observation at fault
            await self._refuse(ws, exc)
            return None
        except Exception:
            log.exception("inference failed")
            self.requests_rejected += 1
            await self._fail(ws, traceback.format_exc(), CloseCode.INTERNAL_ERROR, "inference failed; traceback in previous frame")
            return None
        timing = {"infer_ms": (time.perf_counter() - infer_start) * 1000.0}
        if prev_total_ms is not None:  # as openpi: absent on a connection's first reply
            timing["prev_total_ms"] = prev_total_ms
        self.requests_served += 1
        return codec.packb({"actions": actions, "server_timing": timing})

    def _infer(self, observation: dict) -> np.ndarray:
        actions = self.policy.predict_action_chunk(observation)
        if hasattr(actions, "detach"):
            actions = actions.detach().cpu().numpy()
        actions = np.asarray(actions)
        if actions.dtype.kind not in "fiu" or actions.ndim not in (2, 3):
            raise ValueError(f"policy returned actions of dtype {actions.dtype} and shape {actions.shape}; expected (H, D) numbers")
        return actions

    async def _refuse(self, ws: ServerConnection, error: InputError) -> None:
        self.requests_rejected += 1
        await self._fail(ws, f"dexego serve: bad observation: {error}", CloseCode.INVALID_DATA, "bad observation")

    @staticmethod
    async def _fail(ws: ServerConnection, text: str, code: CloseCode, reason: str) -> None:
        try:
            await ws.send(text)
            await ws.close(code=code, reason=reason)
        except ConnectionClosed:
            pass

    # --- lifetime ---

    async def start(self) -> Server:
        """Start listening (inside a running event loop) and return the websockets Server."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dexego-infer")
        if not is_loopback(self.config.host) and self.config.api_key is None:
            log.warning("serving on %s without an API key: anyone who can reach this address can drive the policy", self.config.host)
        return await serve(
            self._handle,
            self.config.host,
            self.config.port,
            compression=None,
            max_size=self.config.max_message_bytes,
            process_request=self._process_request,
            ping_interval=self.config.ping_interval_s,
            server_header=None,
        )

    async def serve_forever(self, ready: callable | None = None) -> None:
        server = await self.start()
        if ready is not None:
            ready(server)
        try:
            await server.serve_forever()
        finally:
            server.close()
            await server.wait_closed()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _api_key_matches(headers: Headers, key: str) -> bool:
    given = headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Api-Key {key}".encode())


def bound_port(server: Server) -> int:
    return server.sockets[0].getsockname()[1]


class ServerThread:
    """A PolicyServer running on its own event loop in a background thread (tests, benchmarks, notebooks).

    >>> with ServerThread(PolicyServer(policy, ServerConfig(port=0))) as handle:
    ...     client = PolicyClient(handle.url)
    """

    def __init__(self, server: PolicyServer, start_timeout_s: float = 10.0):
        self.server = server
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dexego-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(start_timeout_s):
            raise TimeoutError(f"policy server did not start within {start_timeout_s} s")
        if self._error is not None:
            raise self._error

    @property
    def url(self) -> str:
        host = self.server.config.host
        return f"ws://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()

        def on_ready(server: Server) -> None:
            self.port = bound_port(server)
            self._ready.set()

        async def main() -> None:
            self._task = asyncio.current_task()
            await self.server.serve_forever(on_ready)

        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # e.g. the port is taken: reported to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def close(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_server(server: PolicyServer, on_ready: callable | None = None) -> None:
    """Serve until interrupted (Ctrl-C). ``on_ready(url)`` is called once listening."""

    def ready(ws_server: Server) -> None:
        if on_ready is not None:
            host = server.config.host
            on_ready(f"ws://{'[' + host + ']' if ':' in host else host}:{bound_port(ws_server)}")

    try:
        asyncio.run(server.serve_forever(ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the address is taken or not ours
        raise ConfigError(f"serve: cannot listen on {server.config.host}:{server.config.port}: {exc.strerror or exc}") from exc
