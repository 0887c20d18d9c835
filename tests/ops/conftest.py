"""Fixtures shared by the ops tests: settings with webhook retries scaled down, and the job store."""

from __future__ import annotations

import pytest

from fenta.config import Settings
from fenta.engine.store import JobStore


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("FENTA_WEBHOOK_RETRY_SCALE", "0.001")  # 5 s -> 5 ms, 5 min -> 0.3 s
    return Settings.from_env()


@pytest.fixture
def store(settings):
    s = JobStore(settings.db_path)
    yield s
    s.close()
