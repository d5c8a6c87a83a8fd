"""The policy server: openpi's websocket protocol in front of any object with ``predict_action_chunk``.

Per connection: send the metadata, then loop {receive a msgpack observation,
check it, infer, send ``{"actions", "server_timing"}``}. A policy that reasons
before acting (its ``describe()`` says ``"reasoning": True``, as a dexego Policy
with ``model.tokens.reasoning`` does) is asked for its plan
(``predict_action_chunk(observation, return_plan=True)``) and the reply also
holds ``"plan"``, the plan's text; the key is absent otherwise. Inference runs in
one worker thread, so the event loop keeps accepting clients and answering
``/healthz`` while a model computes, and a model that is not thread-safe is
never entered twice at once.

Batching (``max_batch > 1``, for a policy whose ``predict_action_chunk`` takes
a batched observation, as a dexego Policy does): the requests that wait while
a forward pass runs are stacked into the next one. A batch may wait up to
``batch_wait_ms`` for more requests, but only while some connected client has
no request in flight (so a lone client never waits); requests whose entries
differ in shape, dtype or key set go into separate passes. If a batched pass
fails, its observations are run one by one, so one client's bad observation
fails only that client.

Bounded resources: a connection has at most one message in flight (the server
reads the next one only after answering, and websockets stops reading the
socket while one complete message waits), so the observation bytes held are
bounded by :meth:`ServerConfig.buffer_bound_bytes`, which must fit the
configured memory budget. A connection that sends nothing for
``idle_timeout_s`` is closed; the API key is checked before a client takes one
of the ``max_clients`` slots.

Errors: a bad message ends only its own connection. The client gets one text
frame of one line (``dexego serve: <what>: <detail>``, never a traceback or a
path), then a close frame: 1007 for a bad observation, 1011 when the policy
fails or returns NaN/inf actions (the server logs the traceback with an error
id that the reply names), 1009 from websockets for an oversized frame, 1000
after the idle timeout.

``server_timing``: ``infer_ms`` is the forward pass (shared by a batch);
``prev_total_ms`` (from a connection's second reply on, as openpi) is the
server-side time of the previous request, from its arrival to its reply being
sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import ipaddress
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from dexego.errors import ConfigError, InputError, NonFiniteActions
from dexego.serve import codec
from dexego.serve.spec import ObservationSpec

log = logging.getLogger("dexego.serve")

PROTOCOL = "openpi-websocket-msgpack-numpy"
HEALTH_PATH = "/healthz"
READ_CHUNK_BYTES = 256 * 2**10  # what asyncio reads from a socket at once (beyond a paused connection's queued message)
_MAX_ERROR_CHARS = 400


class ChunkPolicy(Protocol):
    def predict_action_chunk(self, observation: dict) -> np.ndarray: ...


@dataclass(frozen=True)
class ServerConfig:
    """Where and how ``dexego serve`` listens: address, port, API key, largest accepted message."""

    host: str = "127.0.0.1"  # loopback unless asked otherwise
    port: int = 8000  # 0 picks a free port
    api_key: str | None = None  # clients must send "Authorization: Api-Key <key>"
    max_message_bytes: int = 8 * 2**20  # larger frames close the connection (1009)
    max_clients: int = 32  # authenticated connections at once; further handshakes get 503
    memory_budget_bytes: int = 2**30  # buffer_bound_bytes() must fit in it
    idle_timeout_s: float | None = 60.0  # close a connection that sends no message for this long
    max_batch: int = 1  # > 1: stack concurrent requests into one forward pass (the policy must take batches)
    batch_wait_ms: float = 2.0  # how long a batch may wait for more requests (only while a client could send one)
    ping_interval_s: float | None = 20.0
    open_timeout_s: float = 10.0  # a TCP connection must finish its handshake within this

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port must be in 0..65535, got {self.port}")
        if self.max_message_bytes < 1024:
            raise ConfigError(f"serve: max_message_bytes must be at least 1024, got {self.max_message_bytes}")
        if self.max_clients < 1:
            raise ConfigError(f"serve: max_clients must be at least 1, got {self.max_clients}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("serve: api_key must not be empty")
        if self.idle_timeout_s is not None and not self.idle_timeout_s > 0:
            raise ConfigError(f"serve: idle_timeout_s must be positive (or None for none), got {self.idle_timeout_s}")
        if not 1 <= self.max_batch <= 1024:
            raise ConfigError(f"serve: max_batch must be in 1..1024, got {self.max_batch}")
        if not 0 <= self.batch_wait_ms <= 1000:
            raise ConfigError(f"serve: batch_wait_ms must be in 0..1000, got {self.batch_wait_ms}")
        if not self.open_timeout_s > 0:
            raise ConfigError(f"serve: open_timeout_s must be positive, got {self.open_timeout_s}")
        if self.buffer_bound_bytes() > self.memory_budget_bytes:
            mib = 2**20
            raise ConfigError(
                f"serve: {self.max_clients} clients with messages of up to {self.max_message_bytes / mib:.1f} MiB may hold "
                f"{self.buffer_bound_bytes() / mib:.0f} MiB of observations, over the memory budget of "
                f"{self.memory_budget_bytes / mib:.0f} MiB: lower max_clients or max_message_bytes, or raise the budget"
            )

    def buffer_bound_bytes(self) -> int:
        """The most observation bytes the server holds at once.

        Per connection: one message waiting in websockets (reading stops there) or being received, and the
        decoded observation waiting for inference. Once: the message being decoded (raw + decoded copy) and a
        stacked batch."""
        per_connection = 2 * self.max_message_bytes + READ_CHUNK_BYTES
        return self.max_clients * per_connection + (self.max_batch + 2) * self.max_message_bytes


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Request:
    observation: dict
    future: asyncio.Future = field(repr=False)


class _Refusal(Exception):
    """An answer that is an error: the one-line text for the client, the close code and reason."""

    def __init__(self, text: str, code: CloseCode, reason: str):
        super().__init__(text)
        self.text, self.code, self.reason = text, code, reason


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _bad_observation(error: InputError) -> _Refusal:
    # The field and the problem only: an InputError's path may be a file on the server.
    detail = ": ".join(p for p in (error.field, error.problem) if p) if error.problem else str(error)
    return _Refusal(f"dexego serve: bad observation: {_one_line(detail)}", CloseCode.INVALID_DATA, "bad observation")


class PolicyServer:
    """Serves ``policy`` (anything with ``predict_action_chunk(observation) -> (H, D) array``).

    With ``config.max_batch > 1`` the policy must also accept a batched observation (every array with a leading
    batch dimension B, ``instruction`` a list of B strings) and return (B, H, D)."""

    def __init__(
        self,
        policy: ChunkPolicy,
        config: ServerConfig = ServerConfig(),
        metadata: dict[str, Any] | None = None,
        observation_spec: ObservationSpec | None = None,
        plans: bool | None = None,
    ):
        """``plans``: send the policy's plan text in each reply (the policy's ``predict_action_chunk`` must take
        ``return_plan=True`` and return (chunk, plan)); None: when the policy's ``describe()`` says it reasons."""
        self.policy = policy
        self.config = config
        self.observation_spec = observation_spec
        self.plans = _reasons(policy) if plans is None else bool(plans)
        self.metadata = {
            **(metadata or {}),
            "protocol": PROTOCOL,
            "max_message_bytes": config.max_message_bytes,
        }
        if observation_spec is not None:
            self.metadata.setdefault("observation", observation_spec.describe())
        self._metadata_bytes = codec.packb(self.metadata)  # fails now, not on the first client, if not msgpack-able
        self._executor: ThreadPoolExecutor | None = None  # the one inference thread, made by start()
        self._queue: asyncio.Queue[_Request] | None = None
        self._batcher: asyncio.Task | None = None
        self._slots: set[ServerConnection] = set()  # authenticated connections (handshake accepted or in progress)
        self._connected = 0  # connections in their handler
        self._pending = 0  # requests queued or being inferred
        self._error_ids = itertools.count(1)
        self.requests_served = 0
        self.requests_rejected = 0
        self.batches_run = 0
        self.largest_batch = 0

    # --- HTTP side of the handshake: health check, API key, client slots ---

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == HEALTH_PATH:
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self.config.api_key is not None and not _api_key_matches(request.headers, self.config.api_key):
            self.requests_rejected += 1
            return connection.respond(
                http.HTTPStatus.UNAUTHORIZED, "missing or wrong API key (send 'Authorization: Api-Key <key>')\n"
            )
        if len(self._slots) >= self.config.max_clients:
            return connection.respond(
                http.HTTPStatus.SERVICE_UNAVAILABLE, f"server full ({self.config.max_clients} clients)\n"
            )
        # The slot is taken now (so that concurrent handshakes cannot overshoot) and freed when the connection ends,
        # however it ends (handler done, handshake failed, peer gone).
        self._slots.add(connection)
        asyncio.ensure_future(connection.wait_closed()).add_done_callback(lambda _: self._slots.discard(connection))
        return None

    @property
    def clients(self) -> int:
        """Connections holding a slot."""
        return len(self._slots)

    # --- one websocket connection ---

    async def _handle(self, ws: ServerConnection) -> None:
        self._connected += 1
        try:
            await ws.send(self._metadata_bytes)
            prev_total_ms: float | None = None
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), self.config.idle_timeout_s)
                except TimeoutError:
                    await ws.close(CloseCode.NORMAL_CLOSURE, f"idle for {self.config.idle_timeout_s:g} s")
                    return
                start = time.perf_counter()
                try:
                    observation = self._parse(message)
                    del message  # held no longer than needed: the decoded observation replaces it
                    reply = (
                        observation
                        if isinstance(observation, bytes)
                        else await self._answer(observation, prev_total_ms)
                    )
                except _Refusal as refusal:
                    self.requests_rejected += 1
                    await _fail(ws, refusal)
                    return
                del observation
                await ws.send(reply)
                prev_total_ms = (time.perf_counter() - start) * 1000.0
        except ConnectionClosed:
            pass
        finally:
            self._connected -= 1
            self._slots.discard(ws)

    def _parse(self, message: Any) -> dict | bytes:
        """The checked observation (or the reply to an openpi control message); raises _Refusal."""
        try:
            if isinstance(message, str):
                raise InputError("observation", None, "expected a binary msgpack frame, got a text frame")
            observation = codec.unpackb(message)
            if isinstance(observation, dict) and "__ctrl__" in observation:  # openpi episode markers: nothing to do
                return codec.packb({})
            if self.observation_spec is not None:
                self.observation_spec.validate(observation)
            elif not isinstance(observation, dict):
                raise InputError(
                    "observation", None, f"expected a map of named entries, got {type(observation).__name__}"
                )
        except InputError as exc:
            raise _bad_observation(exc) from None
        return observation

    async def _answer(self, observation: dict, prev_total_ms: float | None) -> bytes:
        """The reply frame of a checked observation; raises _Refusal."""
        request = _Request(observation, asyncio.get_running_loop().create_future())
        self._pending += 1
        try:
            self._queue.put_nowait(request)
            (actions, plan), infer_ms = await request.future
        finally:
            self._pending -= 1
        timing = {"infer_ms": infer_ms}
        if prev_total_ms is not None:  # as openpi: absent on a connection's first reply
            timing["prev_total_ms"] = prev_total_ms
        self.requests_served += 1
        reply: dict[str, Any] = {"actions": actions}
        if plan is not None:  # a reasoning policy's plan; absent otherwise
            reply["plan"] = plan
        reply["server_timing"] = timing
        return codec.packb(reply)

    # --- inference: batches of concurrent requests, one forward pass at a time ---

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            self._drain_into(batch)
            if len(batch) < self.config.max_batch and self.config.batch_wait_ms > 0:
                deadline = loop.time() + self.config.batch_wait_ms / 1000.0
                # Wait only while some connected client has nothing in flight: otherwise no request can come.
                while len(batch) < self.config.max_batch and self._connected > self._pending:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
                    self._drain_into(batch)
            batch = [r for r in batch if not r.future.done()]  # a cancelled request (its client went away)
            if not batch:
                continue
            try:
                await self._run(batch)
            except BaseException as exc:  # never leave a request unanswered, and keep the batcher alive
                refusal = self._refusal_for(exc if isinstance(exc, Exception) else RuntimeError("server shutting down"))
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(refusal)
                if not isinstance(exc, Exception):  # cancelled: the server is stopping
                    raise

    async def _run(self, batch: list[_Request]) -> None:
        start = time.perf_counter()
        results = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._infer_batch, [r.observation for r in batch]
        )
        infer_ms = (time.perf_counter() - start) * 1000.0
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        for request, result in zip(batch, results):
            if request.future.done():
                continue
            if isinstance(result, BaseException):
                request.future.set_exception(self._refusal_for(result))
            else:
                request.future.set_result((result, infer_ms))

    def _drain_into(self, batch: list[_Request]) -> None:
        while len(batch) < self.config.max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    def _refusal_for(self, error: BaseException) -> _Refusal:
        if isinstance(error, InputError):  # the policy's own input checks: still the client's observation at fault
            return _bad_observation(error)
        if isinstance(error, NonFiniteActions):
            return _Refusal(
                f"dexego serve: non-finite actions: {error}", CloseCode.INTERNAL_ERROR, "non-finite actions"
            )
        error_id = next(self._error_ids)
        log.error("inference failed (error %d)", error_id, exc_info=error)
        return _Refusal(f"dexego serve: inference failed: {type(error).__name__} (error {error_id} in the server log)",
                        CloseCode.INTERNAL_ERROR, "inference failed")  # fmt: skip

    def _infer_batch(self, observations: list[dict]) -> list[tuple[np.ndarray, str | None] | BaseException]:
        """Runs in the inference thread: one (actions, plan) (or the exception to answer with) per observation."""
        results: list[tuple[np.ndarray, str | None] | BaseException | None] = [None] * len(observations)
        groups: dict[Any, list[int]] = {}
        for i, obs in enumerate(observations):
            try:
                key = _batch_signature(obs) if len(observations) > 1 else None
            except Exception:  # an unusual map (e.g. bytes keys, unchecked with --no-validate): run it alone
                key = None
            groups.setdefault(key if key is not None else ("single", i), []).append(i)
        for members in groups.values():
            if len(members) > 1:
                try:
                    chunks, plans = self._call_policy(_stack([observations[i] for i in members]), batch=len(members))
                except Exception:  # run them one by one: only the observation at fault fails
                    log.debug(
                        "batched inference failed; running the %d observations one by one", len(members), exc_info=True
                    )
                else:
                    for j, (i, chunk) in enumerate(zip(members, chunks)):
                        try:
                            results[i] = (_finite_or_error(chunk), None if plans is None else plans[j])
                        except Exception as exc:
                            results[i] = exc
                    continue
            for i in members:
                try:
                    chunk, plan = self._call_policy(observations[i], batch=None)
                    results[i] = (_finite_or_error(chunk), plan)
                except Exception as exc:
                    results[i] = exc
        return results

    def _call_policy(self, observation: dict, batch: int | None) -> tuple[np.ndarray, Any]:
        """(actions, plan): plan is None, one text, or (batched) a list of B texts."""
        plan = None
        if self.plans:
            actions, plan = self.policy.predict_action_chunk(observation, return_plan=True)  # type: ignore[call-arg]
            plan = _checked_plan(plan, batch)
        else:
            actions = self.policy.predict_action_chunk(observation)
        if hasattr(actions, "detach"):
            actions = actions.detach().cpu().numpy()
        actions = np.asarray(actions)
        want = (2, 3) if batch is None else (3,)
        if (
            actions.dtype.kind not in "fiu"
            or actions.ndim not in want
            or (batch is not None and actions.shape[0] != batch)
        ):
            raise ValueError(f"policy returned actions of dtype {actions.dtype} and shape {actions.shape}; "
                             f"expected {'(H, D)' if batch is None else f'({batch}, H, D)'} numbers")  # fmt: skip
        return actions, plan

    # --- lifetime ---

    async def start(self) -> Server:
        """Start listening (inside a running event loop) and return the websockets Server."""
        if not is_loopback(self.config.host) and self.config.api_key is None:
            log.warning(
                "serving on %s without an API key: anyone who can reach this address can drive the policy",
                self.config.host,
            )
        server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            compression=None,
            max_size=self.config.max_message_bytes,
            max_queue=0,  # stop reading a socket while one complete message waits: one message in flight
            process_request=self._process_request,
            ping_interval=self.config.ping_interval_s,
            open_timeout=self.config.open_timeout_s,
            server_header=None,
        )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dexego-infer")
        self._queue = asyncio.Queue()
        self._batcher = asyncio.create_task(self._batch_loop(), name="dexego-batcher")
        return server

    async def serve_forever(self, ready: callable | None = None) -> None:
        server = await self.start()
        if ready is not None:
            ready(server)
        try:
            await server.serve_forever()
        finally:
            server.close()
            await server.wait_closed()
            if self._batcher is not None:
                self._batcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._batcher
                self._batcher = None
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


async def _fail(ws: ServerConnection, refusal: _Refusal) -> None:
    try:
        await ws.send(refusal.text)
        await ws.close(code=refusal.code, reason=refusal.reason)
    except ConnectionClosed:
        pass


def _reasons(policy: Any) -> bool:
    """Whether ``policy`` describes itself as reasoning before acting (its plan goes into the replies)."""
    describe = getattr(policy, "describe", None)
    if not callable(describe):
        return False
    info = describe()
    return isinstance(info, dict) and info.get("reasoning") is True


def _checked_plan(plan: Any, batch: int | None) -> Any:
    """None, a text, or (batched) a list of ``batch`` texts; ValueError otherwise (answered as a failed inference)."""
    if plan is None:
        return None
    if batch is None:
        if isinstance(plan, str):
            return plan
    elif isinstance(plan, (list, tuple)) and len(plan) == batch and all(isinstance(p, str) for p in plan):
        return list(plan)
    raise ValueError(f"policy returned a plan of type {type(plan).__name__}; expected "
                     f"{'a text' if batch is None else f'a list of {batch} texts'}")  # fmt: skip


def _finite_or_error(actions: np.ndarray) -> np.ndarray:
    if actions.dtype.kind == "f" and not np.isfinite(actions).all():
        bad = int(np.size(actions) - np.count_nonzero(np.isfinite(actions)))
        raise NonFiniteActions(
            f"the policy's actions for this observation hold {bad} NaN or infinite values; none were sent"
        )
    return actions


def _batch_signature(observation: dict) -> tuple | None:
    """Observations with equal signatures stack into one batch; None: run alone."""
    parts = []
    for key in sorted(observation):
        value = observation[key]
        if isinstance(value, np.ndarray):
            parts.append((key, value.shape, value.dtype.str))
        elif key == "instruction" and isinstance(value, str):
            parts.append((key, "text"))
        elif isinstance(value, str):
            parts.append((key, "text", value))  # any other text must be equal across the batch
        else:
            return None
    images = observation.get("images")
    if not isinstance(images, np.ndarray) or images.ndim != 4:  # already batched (a leading 1) or not images at all
        return None
    return tuple(parts)


def _stack(observations: list[dict]) -> dict:
    first = observations[0]
    stacked: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, np.ndarray):
            stacked[key] = np.stack([obs[key] for obs in observations])
        elif key == "instruction":
            stacked[key] = [obs[key] for obs in observations]
        else:
            stacked[key] = value
    return stacked


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
        raise ConfigError(
            f"serve: cannot listen on {server.config.host}:{server.config.port}: {exc.strerror or exc}"
        ) from exc
