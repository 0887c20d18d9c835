"""The issue's proofs in real time, with `fenta scheduler` as a real process (`pytest -m slow`; minutes).

The default suite proves the same with a fixed clock (test_automation.py)."""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

import pytest

from fenta.config import Settings
from fenta.engine.store import JobStore
from fenta.ops import schedules as sch
from fenta.ops import webhooks as wh

from .receiver import Receiver
from .test_scheduler_daemon import Daemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

TINY_VIDEO = """\
version: 1
name: tiny-video
nodes:
  note:
    type: Input.Text
    params: {text: "One two three."}
  backdrop:
    type: Input.Background
    params: {style: gradient, count: 1}
  timeline:
    type: Timeline
    params: {duration: 2}
    inputs: {clips: backdrop.clips, script: note.text}
  render:
    type: Render
    params: {profile: 720p, preview: true}
    inputs: {timeline: timeline.timeline}
"""

ENV = {"FENTA_SCHEDULER_POLL": "1"}


def jobs(settings: Settings, schedule: str) -> list[dict]:
    store = JobStore(settings.db_path)
    try:
        return [
            dict(r)
            for r in store.db.query(
                "SELECT id, status, created_at FROM jobs WHERE schedule_id = ? ORDER BY created_at",
                [schedule],
            )
        ]
    finally:
        store.close()


def wait_until(check, timeout: float, step: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(step)
    return check()


@pytest.fixture
def setup(write, fenta_home, tmp_path):
    settings = Settings.from_env()
    wf = write("tiny.yaml", TINY_VIDEO)
    return settings, wf, tmp_path


def test_every_minute_one_scheduled_job_completes_and_the_receiver_verifies_started_and_completed(
    setup, fenta_home
):
    settings, wf, tmp = setup
    with Receiver() as rx:
        store = JobStore(settings.db_path)
        try:
            rx.secret = wh.add_endpoint(store, rx.url).secret
            sch.add_schedule(store, "every-minute", wf, "* * * * *", out=tmp / "renders")
        finally:
            store.close()
        t0 = time.time()
        d = Daemon(fenta_home, "--workers", "1", env=ENV)
        try:
            assert d.wait_for("scheduler running"), d.lines
            got = wait_until(lambda: rx.verified("job.completed"), timeout=80)
            took = time.time() - t0
            assert got, d.lines
            assert took < 60 + 15, took  # the next minute plus the render and the delivery
            started = rx.verified("job.started")
            assert len(started) == 1 and started[0]["data"]["jobId"] == got[0]["data"]["jobId"]
            assert all(r.verified is not None for r in rx.requests), [r.error for r in rx.requests]
            video = got[0]["data"]["videoUrl"]
            assert video.startswith("file://") and Path(video[len("file://") :]).is_file()
            assert [j["status"] for j in jobs(settings, "every-minute")] == ["completed"]
            d.proc.send_signal(signal.SIGTERM)
            assert d.finish() == 0, d.lines
        finally:
            d.kill()


def test_killed_for_two_minutes_and_restarted_runs_exactly_one_catch_up_job(setup, fenta_home):
    settings, wf, tmp = setup
    store = JobStore(settings.db_path)
    try:
        sch.add_schedule(store, "every-minute", wf, "* * * * *", out=tmp / "renders")  # catch-up: latest
    finally:
        store.close()
    d = Daemon(fenta_home, "--workers", "1", env=ENV)
    try:
        assert d.wait_for("scheduler running"), d.lines
        first = wait_until(
            lambda: [j for j in jobs(settings, "every-minute") if j["status"] == "completed"], timeout=80
        )
        assert len(first) == 1, d.lines
    finally:
        d.kill()  # SIGKILL: no clean stop
    store = JobStore(settings.db_path)
    try:
        fired = sch.get_schedule(store, "every-minute")["last_fire_at"]
    finally:
        store.close()
    # stay down over the next two fire times, then come back half a minute after the second
    time.sleep(max(0.0, fired + 150 - time.time()))
    restarted = time.time()
    d2 = Daemon(fenta_home, "--workers", "1", env=ENV)
    try:
        assert d2.wait_for("scheduler running"), d2.lines
        assert wait_until(lambda: len(jobs(settings, "every-minute")) >= 2, timeout=15), d2.lines
        # until just before the next fire time, nothing more is queued
        next_fire = math.floor(time.time() / 60) * 60 + 60
        time.sleep(max(0.0, next_fire - 3 - time.time()))
        after = [j for j in jobs(settings, "every-minute") if j["created_at"] >= restarted - 1]
        assert len(after) == 1, (after, d2.lines)
        assert any("(catch-up)" in line for line in d2.lines), d2.lines
        d2.proc.send_signal(signal.SIGTERM)
        assert d2.finish() == 0, d2.lines
    finally:
        d2.kill()
