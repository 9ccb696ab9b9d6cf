"""Shared pytest fixtures."""

import pytest


@pytest.fixture
def forge_standin():
    """A started local GitHub REST stand-in (tests/forge_standin.py); token ``test-token``,
    repository ``acme/strategies``. Fails the test if a request had the wrong shape."""
    from tests.forge_standin import ForgeStandin

    standin = ForgeStandin().start()
    try:
        yield standin
    finally:
        standin.stop()
    assert not standin.errors, standin.errors
