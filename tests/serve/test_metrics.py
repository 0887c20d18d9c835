"""`/metrics`: Prometheus text format, parsed with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from .conftest import WORKFLOW, auth, wait_for


def _families(client, headers) -> dict:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def _value(family, suffix: str = "", **labels) -> float:
    """The first sample of `family` named NAME+suffix with these labels."""
    return next(
        s.value
        for s in family.samples
        if s.name == family.name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_requests_queue_depth_and_job_and_node_durations_are_reported(client, token, workers):
    headers = auth(token("owner"))
    done = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers).json()
    workers(1)
    wait_for(
        lambda: client.get(f"/v1/jobs/{done['id']}", headers=headers).json()["status"] == "completed",
        timeout=60,
    )
    client.post("/v1/jobs", json={"workflow": WORKFLOW, "priority": -1}, headers=auth(token("editor")))
    client.get("/v1/jobs", headers={"Authorization": "Bearer fenta_pat_x"})
    fams = _families(client, headers)
    assert _value(fams["fenta_http_requests"], "_total", method="POST", route="/v1/jobs", status="202") == 2
    assert _value(fams["fenta_http_requests"], "_total", method="GET", route="/v1/jobs", status="401") == 1
    assert _value(fams["fenta_http_request_duration_seconds"], "_count", method="POST", route="/v1/jobs") == 2
    assert _value(fams["fenta_http_request_duration_seconds"], "_sum", method="POST", route="/v1/jobs") > 0
    states = {s.labels["state"]: s.value for s in fams["fenta_jobs"].samples}
    assert (
        fams["fenta_jobs"].type == "gauge" and sum(states.values()) == 2 and states["completed"] >= 1
    )  # the second may be done too
    job_hist = fams["fenta_job_duration_seconds"]
    assert (
        job_hist.type == "histogram"
        and _value(job_hist, "_count", outcome="completed") == states["completed"]
    )
    assert (
        _value(job_hist, "_bucket", outcome="completed", le="+Inf") == states["completed"]
        and _value(job_hist, "_sum", outcome="completed") > 0
    )
    nodes = {s.labels["node_type"] for s in fams["fenta_node_duration_seconds"].samples}
    assert {"Voice.TTS", "Render"} <= nodes
    assert _value(fams["fenta_jobs_submitted"], "_total", source="api") == 2
    assert _value(fams["fenta_auth_failures"], "_total", reason="malformed") == 1
    for name in (
        "fenta_job_retries",
        "fenta_jobs_dead",
        "fenta_webhook_deliveries",
        "fenta_build_info",
        "fenta_sse_streams",
    ):
        assert name in fams, name


def test_the_oldest_queued_job_is_reported_by_its_creation_time(client, token):
    from fenta.engine.events import parse_iso

    headers = auth(token("owner"))
    assert "fenta_queue_oldest_job_created_timestamp_seconds" not in _families(client, headers)
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers).json()
    client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers)
    got = _value(_families(client, headers)["fenta_queue_oldest_job_created_timestamp_seconds"])
    assert abs(got - parse_iso(job["created_at"])) < 0.01


def test_metrics_need_the_metrics_permission(client, token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(token("editor"))).status_code == 403
    assert client.get("/metrics", headers=auth(token("admin"))).status_code == 200


def test_metric_names_follow_the_prometheus_conventions(client, token):
    text = client.get("/metrics", headers=auth(token("owner"))).text
    names = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    ours = {n for n in names if n.startswith("fenta_")}
    assert ours and all(n == n.lower() for n in ours)
    for n in ours:
        if "duration" in n:
            assert "_seconds" in n, n
    counters = [
        f for f in text_string_to_metric_families(text) if f.type == "counter" and f.name.startswith("fenta_")
    ]
    assert counters and all(s.name.endswith(("_total", "_created")) for f in counters for s in f.samples)
