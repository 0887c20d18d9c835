"""Pytest fixtures that start the provider fakes and point fenta at them.

Import the ones a test module needs: ``from tests.fakes.fixtures import openrouter_fake, pexels_fake  # noqa: F401``.
One server per session (start/stop costs ~0.5 s), reset before each test; each fixture sets the key and
FENTA_*_URL variables for the test and shrinks retry waits (FENTA_BACKOFF_SCALE).
"""

from __future__ import annotations

import pytest

from tests.fakes.openrouter import FakeOpenRouter

_servers: dict[str, object] = {}


def _shared(name: str, factory):
    if name not in _servers:
        _servers[name] = factory().start()
    srv = _servers[name]
    srv.reset()
    return srv


@pytest.fixture
def openrouter_fake(fenta_home, monkeypatch):
    """A running fake OpenRouter (state reset); env points fenta at it."""
    fake = _shared("openrouter", FakeOpenRouter)
    monkeypatch.setenv("OPENROUTER_API_KEY", fake.key)
    monkeypatch.setenv("FENTA_OPENROUTER_URL", fake.base_url)
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.01")
    yield fake
    fake.reset()


@pytest.fixture
def pexels_fake(fenta_home, monkeypatch):
    """A running fake Pexels (state reset, allowance refilled); env points fenta at it."""
    from tests.fakes.pexels import FakePexels

    fake = _shared("pexels", FakePexels)
    monkeypatch.setenv("PEXELS_API_KEY", fake.key)
    monkeypatch.setenv("FENTA_PEXELS_URL", fake.url)
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.01")
    yield fake
    fake.reset()
