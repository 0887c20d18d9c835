"""Pytest fixtures that start the provider fakes and point fenta at them.

Import the ones a test module needs:
``from tests.fakes.fixtures import openrouter_fake, pexels_fake  # noqa: F401``.
One server per session
 (start/stop costs ~0.5 s), reset before each test; each fixture sets the key and
FENTA_*_URL variables for the test and shrinks retry waits (FENTA_BACKOFF_SCALE).
"""

from __future__ import annotations

import pytest

from tests.fakes.openrouter import FakeOpenRouter

_servers: dict[str, object] = {}


def _serving(name: str, factory, monkeypatch, *, key_env: str, url_env: str, url: str):
    """The session's fake `name` (started once, state reset), with fenta's env pointed at it."""
    if name not in _servers:
        _servers[name] = factory().start()
    fake = _servers[name]
    fake.reset()
    monkeypatch.setenv(key_env, fake.key)
    monkeypatch.setenv(url_env, getattr(fake, url))
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.01")
    return fake


@pytest.fixture
def openrouter_fake(fenta_home, monkeypatch):
    """A running fake OpenRouter (state reset); env points fenta at it."""
    fake = _serving(
        "openrouter",
        FakeOpenRouter,
        monkeypatch,
        key_env="OPENROUTER_API_KEY",
        url_env="FENTA_OPENROUTER_URL",
        url="base_url",
    )
    yield fake
    fake.reset()


@pytest.fixture
def pexels_fake(fenta_home, monkeypatch):
    """A running fake Pexels (state reset, allowance refilled); env points fenta at it."""
    from tests.fakes.pexels import FakePexels

    fake = _serving(
        "pexels", FakePexels, monkeypatch, key_env="PEXELS_API_KEY", url_env="FENTA_PEXELS_URL", url="url"
    )
    yield fake
    fake.reset()
