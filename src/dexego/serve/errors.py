"""Errors of the policy client."""

from __future__ import annotations

from dexego.errors import DexegoError


class ServerError(DexegoError):
    """The server refused a request or its policy failed; the message is the server's own text."""


class ServerUnavailable(DexegoError):
    """No answer from the server: refused connection, timeout, or connection lost after all retries."""


class AuthenticationError(DexegoError):
    """The server refused the API key (HTTP 401)."""
