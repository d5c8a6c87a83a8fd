"""Fixtures for the serve tests: a policy served on a free loopback port."""

import pytest
from serve_fakes import start_server


@pytest.fixture
def served():
    handle, policy = start_server()
    yield handle, policy
    handle.close()


@pytest.fixture
def no_proxy(monkeypatch):
    """No proxy variables: openpi's client would route loopback traffic through one."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
