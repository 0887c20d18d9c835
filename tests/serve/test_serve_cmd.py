"""`fenta serve` as an operator runs it: a real process group, refused when unsafe, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from .conftest import WORKFLOW, auth, free_port, wait_for


def _serve(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "FENTA_POLL_SECONDS": "0.05", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "fenta", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_listening_beyond_loopback_without_any_token_is_refused_in_one_line(cli):
    r = cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "refusing to listen on 0.0.0.0 with no access token" in r.output


def test_a_bad_log_format_or_rate_limit_is_one_line_and_exit_2(cli, monkeypatch):
    assert cli("serve", "--log-format", "xml", "--port", "0").exit_code == 2
    monkeypatch.setenv("FENTA_RATE_LIMIT", "lots")
    r = cli("serve", "--port", "0")
    assert r.exit_code == 2 and "FENTA_RATE_LIMIT 'lots'" in r.output


def test_a_taken_port_is_one_line_and_exit_2(cli):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = cli("serve", "--port", str(s.getsockname()[1]), "--no-scheduler", "--workers", "0")
    assert r.exit_code == 2 and "cannot listen on 127.0.0.1" in r.output


def test_sigterm_stops_the_group_and_a_running_job_goes_back_to_the_queue(token, settings):
    secret = token("editor")
    port = free_port()
    proc = _serve(
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-format",
        "json",
        env_extra={"FENTA_HOME": str(settings.home)},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url), timeout=30)
        slow = json.loads(json.dumps(WORKFLOW))
        slow["nodes"]["script"]["params"]["text"] = " ".join(
            ["A long script keeps the voice node busy for a while."] * 40
        )
        job = httpx.post(f"{url}/v1/jobs", json={"workflow": slow}, headers=auth(secret)).json()
        wait_for(
            lambda: (
                httpx.get(f"{url}/v1/jobs/{job['id']}", headers=auth(secret)).json()["status"] == "running"
            ),
            timeout=30,
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    from fenta.engine.events import read_events
    from fenta.engine.store import JobStore

    store = JobStore(settings.db_path)
    try:
        row = store.get_job(job["id"])
        types = [e.type for e in read_events(store, job_id=job["id"])]
    finally:
        store.close()
    assert (
        row.status == "queued" and types[-1] == "job.queued" and "job.started" in types
    )  # handed back, not lost
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert logs and any(rec.get("job_id") == job["id"] for rec in logs)
    assert any(rec["message"] == "fenta serve stopped" for rec in logs)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.1)
        return False


def test_mcp_answers_the_public_urls_host_behind_a_proxy(make_app, token):
    from fastapi.testclient import TestClient

    from fenta.serve.server import _allowed_hosts

    hosts = _allowed_hosts("127.0.0.1", "https://render.example.com")
    assert _allowed_hosts("0.0.0.0", None) == ["*"] and _allowed_hosts("127.0.0.1", None) == []
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {
        **auth(token("viewer")),
        "Accept": "application/json, text/event-stream",
        "Host": "render.example.com",
    }
    with TestClient(make_app(allowed_hosts=hosts), base_url="http://render.example.com") as c:
        assert c.post("/mcp", json=body, headers=headers).status_code != 421
    with TestClient(make_app(), base_url="http://render.example.com") as c:
        assert c.post("/mcp", json=body, headers=headers).status_code == 421
