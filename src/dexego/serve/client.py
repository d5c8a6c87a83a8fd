"""A blocking policy client for robot code: connect, send an observation, get an action chunk.

Speaks the openpi websocket protocol, so it also talks to openpi servers.
A lost connection is re-opened and the request re-sent (inference is
stateless on the server, so a re-send is safe); a refusal by the server
(bad observation, failed inference, wrong API key) is raised at once with
the server's own message. A reply that does not come within the timeout
raises and drops the connection, so that a late reply can never be taken
for the answer to a later request.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from dexego.errors import ConfigError, InputError
from dexego.serve import codec
from dexego.serve.errors import AuthenticationError, ServerError, ServerUnavailable

# Close codes after which re-sending the same request cannot help.
_REFUSALS = {CloseCode.INVALID_DATA, CloseCode.MESSAGE_TOO_BIG, CloseCode.UNSUPPORTED_DATA,
             CloseCode.POLICY_VIOLATION, CloseCode.INTERNAL_ERROR}  # fmt: skip


@dataclass(frozen=True)
class ClientConfig:
    """Connection settings of :class:`PolicyClient`: API key, timeouts, reconnection attempts."""

    api_key: str | None = None
    open_timeout_s: float = 5.0  # per connection attempt (handshake + metadata)
    response_timeout_s: float = 30.0  # per request
    retries: int = 3  # extra connection attempts after a refused or lost connection
    retry_delay_s: float = 0.2  # doubled after every failed attempt
    max_reply_bytes: int = 64 * 2**20

    def __post_init__(self) -> None:
        if self.open_timeout_s <= 0 or self.response_timeout_s <= 0:
            raise ConfigError("client: timeouts must be positive")
        if self.retries < 0 or self.retry_delay_s < 0:
            raise ConfigError("client: retries and retry_delay_s must not be negative")


def check_url(url: str) -> str:
    """``url`` when it is a ws:// or wss:// address with a host and, if given, a port in 1..65535 (ConfigError otherwise)."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise ConfigError(f"policy server address must start with ws:// or wss://, got {url!r}")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"policy server address {url!r}: the port must be a number in 1..65535") from None
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ConfigError(f"policy server address {url!r}: expected ws://HOST:PORT")
    return url


class PolicyClient:
    """``predict_action_chunk(observation)`` answered by a remote policy server. Thread-safe (one request at a time)."""

    def __init__(self, url: str, config: ClientConfig = ClientConfig(), connect_now: bool = True):
        self.url = check_url(url)
        self.config = config
        self._ws: ClientConnection | None = None
        self._stack: contextlib.ExitStack | None = None
        self._metadata: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self.last_timing: dict[str, float] = {}
        if connect_now:
            with self._lock:
                self._ensure_connected()

    @property
    def metadata(self) -> dict[str, Any]:
        """What the server sent on connect (action space, horizon, limits ...)."""
        with self._lock:
            self._ensure_connected()
            return dict(self._metadata or {})

    def infer(self, observation: dict) -> dict[str, Any]:
        """Send one observation; return the server's reply ``{"actions": (H, D), "server_timing": {...}}``
        (and ``"plan"``, a text, when the served policy reasons before acting)."""
        payload = codec.packb(observation)
        with self._lock:
            for attempt in range(self.config.retries + 1):
                self._ensure_connected()
                limit = (self._metadata or {}).get("max_message_bytes")
                if isinstance(limit, int) and len(payload) > limit:
                    raise InputError(
                        "observation", None, f"message of {len(payload)} bytes exceeds the server's limit of {limit}"
                    )
                try:
                    self._ws.send(payload)
                    reply = self._ws.recv(timeout=self.config.response_timeout_s)
                except TimeoutError:
                    self._drop()
                    raise ServerUnavailable(f"{self.url}: no reply within {self.config.response_timeout_s} s") from None
                except ConnectionClosed as exc:
                    self._drop()
                    if exc.rcvd is not None and exc.rcvd.code in _REFUSALS:
                        raise ServerError(
                            f"{self.url}: server closed the connection: {exc.rcvd.code} {exc.rcvd.reason}"
                        ) from None
                    if attempt == self.config.retries:
                        raise ServerUnavailable(
                            f"{self.url}: connection lost and {self.config.retries} reconnects failed"
                        ) from None
                    time.sleep(self.config.retry_delay_s * 2**attempt)
                    continue
                if isinstance(reply, str):  # the server's error text; it closes the connection after it
                    self._drop()
                    raise ServerError(f"{self.url}: {reply.strip()}")
                result = codec.unpackb(reply)
                if not isinstance(result, dict) or not isinstance(result.get("actions"), np.ndarray):
                    raise ServerError(f"{self.url}: reply has no 'actions' array")
                if "plan" in result and not isinstance(result["plan"], str):
                    raise ServerError(f"{self.url}: reply's 'plan' is a {type(result['plan']).__name__}, not text")
                self.last_timing = dict(result.get("server_timing") or {})
                return result
        raise AssertionError("unreachable")

    def predict_action_chunk(self, observation: dict, return_plan: bool = False):
        """The chunk (H, D); with ``return_plan``, (chunk, plan): the served policy's plan text, None when it sent
        none (as ``dexego.models.Policy.predict_action_chunk``)."""
        result = self.infer(observation)
        return (result["actions"], result.get("plan")) if return_plan else result["actions"]

    # --- connection management ---

    def _ensure_connected(self) -> None:
        if self._ws is not None:
            return
        headers = {"Authorization": f"Api-Key {self.config.api_key}"} if self.config.api_key else None
        delay = self.config.retry_delay_s
        for attempt in range(self.config.retries + 1):
            stack = contextlib.ExitStack()  # websockets >= 17 wants connect() entered as a context
            try:
                ws = stack.enter_context(
                    connect(
                        self.url,
                        compression=None,
                        max_size=self.config.max_reply_bytes,
                        open_timeout=self.config.open_timeout_s,
                        additional_headers=headers,
                        proxy=None,  # never route robot traffic through an environment proxy
                    )
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status == 401:
                    raise AuthenticationError(f"{self.url}: the server refused the API key") from None
                if status != 503 or attempt == self.config.retries:
                    raise ServerUnavailable(f"{self.url}: handshake refused with HTTP {status}") from None
            except InvalidURI as exc:
                raise ConfigError(f"bad policy server address {self.url!r}: {exc}") from None
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                if attempt == self.config.retries:
                    raise ServerUnavailable(f"{self.url}: cannot connect ({type(exc).__name__}: {exc})") from None
            else:
                try:
                    first = ws.recv(timeout=self.config.open_timeout_s)
                    metadata = codec.unpackb(first) if isinstance(first, bytes) else {}
                    self._metadata = metadata if isinstance(metadata, dict) else {}
                except (TimeoutError, ConnectionClosed, InputError) as exc:
                    stack.close()
                    if attempt == self.config.retries:
                        raise ServerUnavailable(f"{self.url}: no metadata from the server ({exc})") from None
                else:
                    self._ws, self._stack = ws, stack
                    return
            time.sleep(delay)
            delay *= 2

    def _drop(self) -> None:
        if self._stack is not None:
            try:
                self._stack.close()
            except Exception:  # already broken: nothing to tidy
                pass
        self._ws = self._stack = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
