"""`--log-format json`: one JSON object per line with time, level, message, request_id, job_id, node and
duration."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta

import pytest

from fenta.engine.events import Event
from fenta.errors import ServeError
from fenta.serve.logs import setup_logging

from .conftest import WORKFLOW, auth


@pytest.fixture
def captured():
    from fenta.serve.logs import _reset

    stream = io.StringIO()
    yield stream
    _reset()


def _records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_each_request_is_one_json_line_with_its_request_id_route_status_and_duration(client, token, captured):
    setup_logging("json", stream=captured)
    secret = token("editor")
    r = client.post(
        "/v1/jobs", json={"workflow": WORKFLOW}, headers={**auth(secret), "X-Request-ID": "req-42"}
    )
    assert r.headers["x-request-id"] == "req-42"
    line = next(rec for rec in _records(captured) if rec.get("route") == "/v1/jobs")
    assert line["request_id"] == "req-42" and line["status"] == 202 and line["method"] == "POST"
    assert line["level"] == "INFO" and line["logger"] == "fenta.serve"
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert (
        line["job_id"] == r.json()["id"]
        and isinstance(line["duration"], float)
        and line["token"] == secret[:18]
    )
    assert secret not in captured.getvalue()


def test_a_problem_names_the_request_id_the_log_line_has(client, captured):
    setup_logging("json", stream=captured)
    r = client.get("/v1/jobs", headers={"X-Request-ID": "bad id with spaces"})
    rid = r.json()["request_id"]
    assert rid == r.headers["x-request-id"] and rid != "bad id with spaces"  # an unusable id is replaced
    assert any(rec.get("request_id") == rid and rec["status"] == 401 for rec in _records(captured))


def test_job_events_carry_the_job_id_node_and_duration(captured):
    lines = setup_logging("json", stream=captured)
    lines.event(
        Event(
            7,
            "node.finished",
            "job-1",
            {"jobId": "job-1", "node": "voice", "status": "completed", "seconds": 1.5},
        )
    )
    lines.event(Event(8, "job.failed", "job-1", {"jobId": "job-1", "error": "boom", "retryable": True}))
    lines.event(
        Event(0, "node.progress", "job-1", {"jobId": "job-1", "node": "voice", "fraction": 0.5})
    )  # live-only: left out
    lines.line("job job-2: completed file:///x.mp4")
    recs = _records(captured)
    assert recs[0] | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "fenta.jobs",
        "message": "node voice finished (completed)",
        "job_id": "job-1",
        "node": "voice",
        "duration": 1.5,
        "event": "node.finished",
        "event_id": 7,
    }
    assert recs[1]["level"] == "WARNING" and recs[1]["message"] == "failed (retryable): boom"
    assert recs[2]["job_id"] == "job-2" and len(recs) == 3


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ServeError, match="log format 'xml' is not text or json"):
        setup_logging("xml")


def test_fenta_worker_logs_json_lines(cli, token, client, captured):
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(token("editor"))).json()
    from typer.testing import CliRunner

    from fenta.cli import app

    r = CliRunner().invoke(app, ["worker", "--until-empty", "--log-format", "json"])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in r.stderr.splitlines() if line.strip()]
    assert recs, r.output
    mine = [rec for rec in recs if rec.get("job_id") == job["id"]]
    assert {rec["event"] for rec in mine} >= {"job.started", "node.finished", "job.completed"}
    assert any(rec.get("node") == "render" and rec.get("duration") for rec in mine)
    assert recs[-1]["message"].startswith("worker stopped")


def test_fenta_worker_refuses_an_unknown_log_format(cli):
    r = cli("worker", "--until-empty", "--log-format", "xml")
    assert r.exit_code == 2 and "log format 'xml'" in r.output


def test_setting_up_again_replaces_the_earlier_set_up(captured):
    first = io.StringIO()
    setup_logging("text", stream=first, plain=True)
    setup_logging("json", stream=captured)
    logging.getLogger("fenta.serve").info("once", extra={"route": "/x"})
    assert first.getvalue() == "" and _records(captured)[0]["message"] == "once"
    assert setup_logging("text") is None and not logging.getLogger("fenta").handlers


def test_fenta_scheduler_logs_json_lines_when_fenta_log_format_says_so(settings):
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "FENTA_LOG_FORMAT": "json", "FENTA_HOME": str(settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "scheduler", "--workers", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until it runs (a SIGTERM before its handlers would just kill it)
            line = proc.stderr.readline()
            lines.append(line)
            if "scheduler running" in line or not line:
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    recs = [json.loads(line) for line in ("".join(lines) + rest).splitlines() if line.strip()]
    assert proc.returncode == 0 and recs, rest
    assert (
        any(r["message"].startswith("scheduler running") for r in recs)
        and recs[-1]["message"] == "scheduler stopped"
    )
    assert all({"time", "level", "logger", "message"} <= set(r) for r in recs)
