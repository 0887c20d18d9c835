"""Schedules, webhook endpoints, usage and quotas over the API (thin over fenta.ops)."""

from __future__ import annotations

from .conftest import WORKFLOW, auth


def test_a_schedule_is_added_listed_paused_run_and_removed(client, token):
    headers = auth(token("editor"))
    r = client.post(
        "/v1/schedules",
        json={"name": "daily", "cron": "0 9 * * *", "tz": "Europe/Berlin", "workflow": WORKFLOW},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "daily" and r.json()["next_fire_at"]
    assert (
        client.post(
            "/v1/schedules", json={"name": "daily", "cron": "@daily", "workflow": WORKFLOW}, headers=headers
        ).status_code
        == 409
    )
    assert [s["name"] for s in client.get("/v1/schedules", headers=headers).json()] == ["daily"]
    assert (
        client.patch("/v1/schedules/daily", json={"enabled": False}, headers=headers).json()["enabled"]
        is False
    )
    run = client.post("/v1/schedules/daily/run", headers=headers).json()
    assert client.get(f"/v1/jobs/{run['job_id']}", headers=headers).json()["schedule"] == "daily"
    assert client.delete("/v1/schedules/daily", headers=headers).status_code == 204
    assert client.get("/v1/schedules/daily", headers=headers).status_code == 404


def test_a_schedule_with_a_bad_cron_or_workflow_is_refused_as_a_problem(client, token):
    headers = auth(token("editor"))
    bad_cron = client.post(
        "/v1/schedules", json={"name": "x", "cron": "61 * * * *", "workflow": WORKFLOW}, headers=headers
    )
    assert bad_cron.status_code == 422 and bad_cron.json()["field"] == "--cron"
    bad_doc = client.post(
        "/v1/schedules",
        json={"name": "x", "cron": "@daily", "workflow": {"nodes": {"a": {"type": "Nope"}}}},
        headers=headers,
    )
    assert bad_doc.status_code == 422 and bad_doc.json()["errors"][0]["node"] == "a"
    assert (
        client.post(
            "/v1/schedules", json={"name": "../x", "cron": "@daily", "workflow": WORKFLOW}, headers=headers
        ).status_code
        == 422
    )


def test_a_webhook_endpoint_shows_its_secret_once(client, token):
    headers = auth(token("admin"))
    made = client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/x", "events": ["job.completed"]},
        headers=headers,
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = client.get("/v1/webhooks", headers=headers).json()
    assert [e["id"] for e in listed] == [made.json()["id"]] and "secret" not in listed[0]
    assert "secret" not in client.get(f"/v1/webhooks/{made.json()['id']}", headers=headers).json()
    assert client.delete(f"/v1/webhooks/{made.json()['id']}", headers=headers).status_code == 204
    assert client.get("/v1/webhooks", headers=headers).json() == []


def test_recent_webhook_deliveries_are_listed_without_bodies_or_secrets(client, token, settings):
    from fenta.ops.webhooks import sync_outbox
    from fenta.serve.store import ServeStore

    admin = auth(token("admin"))
    ep = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/x", "events": ["job.queued"]}, headers=admin
    ).json()
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(token("editor"))).json()
    store = ServeStore(settings)
    try:
        sync_outbox(store.jobs)
    finally:
        store.close()
    rows = client.get("/v1/webhooks/deliveries", headers=admin).json()
    assert [(r["type"], r["job_id"], r["endpoint_id"], r["status"]) for r in rows] == [
        ("job.queued", job["id"], ep["id"], "pending")
    ]
    assert rows[0]["created_at"].endswith("Z") and not {"body", "secret"} & set(rows[0])
    assert client.get("/v1/webhooks/deliveries?status=failed", headers=admin).json() == []
    assert client.get("/v1/webhooks/deliveries", headers=auth(token("editor"))).status_code == 403


def test_a_private_webhook_receiver_is_refused_unless_the_operator_allows_it(client, token, settings):
    import dataclasses
    import ipaddress

    from fastapi.testclient import TestClient

    from fenta.serve.app import create_app

    headers = auth(token("admin"))
    for url in (
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://[::1]:80/x",
        "http://169.254.169.254/latest",
    ):
        r = client.post("/v1/webhooks", json={"url": url}, headers=headers)
        assert r.status_code == 422 and r.json()["type"].endswith("/untrusted-url"), url
    allowed = dataclasses.replace(settings, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    with TestClient(create_app(allowed), base_url="http://127.0.0.1:8000") as c:
        assert (
            c.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=headers).status_code == 201
        )
    assert client.post("/v1/webhooks", json={"url": "not a url"}, headers=headers).status_code == 422


def test_quotas_are_read_set_and_removed_and_estimates_see_them(client, token):
    owner = auth(token("owner"))
    assert client.put("/v1/quotas/jobs", json={"limit": 0, "per": "day"}, headers=owner).status_code == 200
    status = client.get("/v1/quotas", headers=auth(token("viewer"))).json()["quotas"]
    assert [(q["resource"], q["limit"], q["period"]) for q in status] == [("jobs", 0.0, "day")]
    est = client.post("/v1/estimate", json={"workflow": WORKFLOW}, headers=owner).json()
    assert est["within_quota"] is False and "quota exceeded" in est["quota_problem"]
    assert client.put("/v1/quotas/bananas", json={"limit": 1}, headers=owner).status_code == 422
    assert client.delete("/v1/quotas/jobs", headers=owner).status_code == 204
    assert client.delete("/v1/quotas/jobs", headers=owner).status_code == 404
    assert client.get("/v1/usage", headers=owner).json() == {"days": 30, "rows": [], "total_cost": 0}


def test_validate_and_estimate_say_what_a_workflow_needs(client, token):
    headers = auth(token("viewer"))
    ok = client.post("/v1/workflows/validate", json={"workflow": WORKFLOW}, headers=headers).json()
    assert ok["valid"] is True and ok["nodes"][0] == "script" and ok["keys"] == []
    stock = {"nodes": {"s": {"type": "Input.Stock", "params": {"query": "fish"}}}}
    needs = client.post("/v1/workflows/validate", json={"workflow": stock}, headers=headers).json()
    assert needs["valid"] is True, needs
    assert needs["keys"] == [{"provider": "pexels", "var": "PEXELS_API_KEY", "nodes": ["s"], "set": False}]
    est = client.post("/v1/estimate", json={"workflow": stock}, headers=headers).json()
    assert est["missing_keys"] == ["PEXELS_API_KEY"]
    bad = client.post("/v1/estimate", json={"workflow": {"nodes": {}}}, headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_templates_and_nodes_are_listed_with_schemas(client, token):
    headers = auth(token("viewer"))
    templates = client.get("/v1/templates", headers=headers).json()
    kb = next(t for t in templates if t["name"] == "karaoke-bold")
    assert kb["preview"]["image"].endswith("/v1/templates/karaoke-bold/preview.png")
    assert client.get("/v1/templates/karaoke-bold", headers=headers).json()["canvas"]["width"] > 0
    assert client.get("/v1/templates/nope", headers=headers).status_code == 404
    nodes = client.get("/v1/nodes", headers=headers).json()
    render = next(n for n in nodes["nodes"] if n["type"] == "Render")
    assert render["params_schema"]["type"] == "object" and "timeline" in render["inputs"]
    assert nodes["workflow_schema"]["title"] == "fenta workflow"


def test_the_jobs_a_schedule_added_over_the_api_queues_are_untrusted(client, token, settings):
    import fenta
    from fenta.policy import Policy

    headers = auth(token("editor"))
    made = client.post(
        "/v1/schedules", json={"name": "api", "cron": "@daily", "workflow": WORKFLOW}, headers=headers
    )
    assert made.status_code == 201, made.text
    run = client.post("/v1/schedules/api/run", headers=headers).json()
    options = fenta.jobs.get(run["job_id"], settings=settings)["job"]["options"]
    assert not Policy.from_stored(options["policy"]).trusted
