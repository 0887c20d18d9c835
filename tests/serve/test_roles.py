"""Each role on each route: allowed exactly when its permissions (role ∩ scopes) include the route's."""

from __future__ import annotations

import pytest

from fenta.serve.access import ROLE_SCOPES, ROLES

from .conftest import WORKFLOW, api_routes, auth

#: (method, path, permission, JSON body) for every route that needs a token.
ROUTES = [
    ("GET", "/v1/jobs", "jobs:read", None),
    ("POST", "/v1/jobs", "jobs:write", {"workflow": {"nodes": {}}}),
    ("GET", "/v1/jobs/nope", "jobs:read", None),
    ("POST", "/v1/jobs/nope/cancel", "jobs:write", None),
    ("POST", "/v1/jobs/nope/retry", "jobs:write", None),
    ("GET", "/v1/jobs/nope/artifacts/x.mp4", "artifacts:read", None),
    ("GET", "/v1/jobs/nope/events", "jobs:read", None),
    ("GET", "/v1/events", "jobs:read", None),
    ("GET", "/v1/workflows", "workflows:read", None),
    ("GET", "/v1/workflows/starter:quickstart", "workflows:read", None),
    ("POST", "/v1/workflows/validate", "workflows:read", {"workflow": WORKFLOW}),
    ("POST", "/v1/estimate", "workflows:read", {"workflow": WORKFLOW}),
    ("GET", "/v1/templates", "workflows:read", None),
    ("GET", "/v1/templates/karaoke-bold", "workflows:read", None),
    ("GET", "/v1/templates/nope/preview.png", "workflows:read", None),
    ("GET", "/v1/nodes", "workflows:read", None),
    ("GET", "/v1/assets", "assets:read", None),
    ("GET", "/v1/assets/nope", "assets:read", None),
    ("GET", "/v1/assets/nope/thumbnail", "assets:read", None),
    ("GET", "/v1/assets/uploads/nope", "assets:read", None),
    ("POST", "/v1/assets/uploads", "assets:write", {"filename": "a.mp4", "size": 10}),
    ("POST", "/v1/assets/uploads/nope/complete", "assets:write", None),
    ("GET", "/v1/schedules", "schedules:read", None),
    ("POST", "/v1/schedules", "schedules:write", {"name": "s", "cron": "@daily", "workflow": {"nodes": {}}}),
    ("GET", "/v1/schedules/nope", "schedules:read", None),
    ("PATCH", "/v1/schedules/nope", "schedules:write", {"enabled": False}),
    ("POST", "/v1/schedules/nope/run", "schedules:write", None),
    ("DELETE", "/v1/schedules/nope", "schedules:write", None),
    ("GET", "/v1/webhooks", "webhooks:read", None),
    ("POST", "/v1/webhooks", "webhooks:write", {"url": "not a url"}),
    ("GET", "/v1/webhooks/deliveries", "webhooks:read", None),
    ("GET", "/v1/webhooks/nope", "webhooks:read", None),
    ("DELETE", "/v1/webhooks/nope", "webhooks:write", None),
    ("GET", "/v1/usage", "usage:read", None),
    ("GET", "/v1/quotas", "usage:read", None),
    ("PUT", "/v1/quotas/jobs", "quotas:write", {"limit": 5, "per": "day"}),
    ("DELETE", "/v1/quotas/jobs", "quotas:write", None),
    ("GET", "/metrics", "metrics:read", None),
]
#: Routes that need no token.
OPEN = {("GET", "/v1/health"), ("PUT", "/v1/assets/uploads/{upload_id}/bytes")}


def _status(client, method: str, path: str, body, headers) -> tuple[int, dict]:
    with client.stream(
        method, path, json=body, headers=headers
    ) as r:  # SSE routes never end: read the head only
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            return r.status_code, dict(r.headers)
        r.read()
        return r.status_code, {
            **dict(r.headers),
            "_json": r.json() if r.headers.get("content-type", "").endswith("json") else None,
        }


def test_the_table_lists_every_route_of_the_app(client):
    paths = {(m, r.path) for r in api_routes(client.app) for m in r.methods - {"HEAD"}}
    assert len(paths) > 30
    listed = {(m, p.replace("nope/artifacts/x.mp4", "{job_id}/artifacts/{name}")) for m, p, _, _ in ROUTES}
    normal = {(m, p) for m, p in paths if (m, p) not in OPEN}
    templated = {(m, p) for m, p in normal if any(_matches(p, lp) for mm, lp in listed if mm == m)}
    assert templated == normal, sorted(normal - templated)


def _matches(template: str, path: str) -> bool:
    import re

    pattern = re.sub(r"\{[^}]+\}", "[^/]+", template.replace(".", r"\."))
    return re.fullmatch(pattern, path) is not None


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_routes_its_permissions_allow(client, token, role):
    headers = auth(token(role))
    wrong = []
    for method, path, scope, body in ROUTES:
        status, h = _status(client, method, path, body, headers)
        allowed = scope in ROLE_SCOPES[role]
        if allowed and status in (401, 403):
            wrong.append(f"{role} refused {method} {path}: {status}")
        if not allowed:
            if status != 403:
                wrong.append(f"{role} allowed {method} {path}: {status}")
            elif (
                'error="insufficient_scope"' not in h.get("www-authenticate", "")
                or h["_json"]["required_scope"] != scope
            ):
                wrong.append(f"{role} {method} {path}: 403 without insufficient_scope {scope}")
    assert wrong == []


def test_scopes_narrow_a_token_below_its_role(client, token):
    headers = auth(token("owner", scopes=["jobs:read"]))
    assert client.get("/v1/jobs", headers=headers).status_code == 200
    r = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"


def test_every_route_but_the_health_check_needs_a_token(client):
    assert client.get("/v1/health").status_code == 200
    for method, path, _, body in ROUTES:
        status, h = _status(client, method, path, body, {})
        assert status == 401, (method, path, status)
        assert h["www-authenticate"].startswith("Bearer") and h["_json"]["reason"] == "missing"


def test_an_expired_and_a_revoked_token_are_refused_as_problems(client, settings):
    from fenta.serve.access import create_token, revoke_token, token_hash
    from fenta.serve.store import ServeStore

    expired, _ = create_token(settings, name="old", role="owner")
    revoked, info = create_token(settings, name="gone", role="owner")
    store = ServeStore(settings)
    store.conn.execute("UPDATE api_tokens SET expires_at = 1 WHERE token_hash = ?", (token_hash(expired),))
    store.close()
    revoke_token(settings, info["id"])
    for secret, reason in ((expired, "expired"), (revoked, "revoked")):
        r = client.get("/v1/jobs", headers=auth(secret))
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["reason"] == reason and secret not in r.text
