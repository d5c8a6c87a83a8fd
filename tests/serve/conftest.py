"""Fixtures for the serve tests: a policy served on a free loopback port."""

import pytest
from serve_fakes import start_server


@pytest.fixture
def served():
    handle, policy = start_server()
    yield handle, policy
    handle.close()
