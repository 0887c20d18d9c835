"""Rate limits per token and route (429, Retry-After, RateLimit fields), the body cap (413), CORS."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from fenta.errors import ServeError
from fenta.serve.app import create_app
from fenta.serve.deps import ServeOptions

from .conftest import WORKFLOW, auth


def _client(settings, **changes) -> TestClient:
    options = changes.pop("options", ServeOptions())
    return TestClient(
        create_app(dataclasses.replace(settings, **changes), options), base_url="http://127.0.0.1:8000"
    )


def test_over_the_limit_is_429_with_retry_after_and_the_ratelimit_fields(settings, token):
    headers = auth(token("viewer"))
    with _client(settings, rate_limit="3/minute") as c:
        answers = [c.get("/v1/jobs", headers=headers) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert [r.headers["ratelimit"].split(";")[1] for r in answers] == ["r=2", "r=1", "r=0", "r=0"]
    over = answers[-1]
    assert over.headers["content-type"] == "application/problem+json"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert over.json()["violated-policies"] == ["default"] and over.json()["type"].endswith("#quota-exceeded")


def test_the_limit_is_per_token_and_per_route(settings, token):
    a, b = auth(token("viewer")), auth(token("viewer"))
    with _client(settings, rate_limit="1/minute") as c:
        assert c.get("/v1/jobs", headers=a).status_code == 200
        assert c.get("/v1/jobs", headers=a).status_code == 429
        assert c.get("/v1/jobs", headers=b).status_code == 200  # another token
        assert c.get("/v1/templates", headers=a).status_code == 200  # another route
        assert c.get("/v1/jobs/x1", headers=a).status_code == 404
        assert c.get("/v1/jobs/x2", headers=a).status_code == 429  # one route whatever the id


def test_refused_tokens_do_not_count(settings, token):
    headers = auth(token("viewer"))
    with _client(settings, rate_limit="2/minute") as c:
        for _ in range(5):
            assert c.get("/v1/jobs", headers={"Authorization": "Bearer fenta_pat_nope"}).status_code == 401
            assert c.post("/v1/jobs", json={}, headers=headers).status_code == 403
        assert c.get("/v1/jobs", headers=headers).status_code == 200


def test_several_limits_are_all_applied(settings, token):
    headers = auth(token("viewer"))
    with _client(settings, rate_limit="2/second;100/hour") as c:
        r = c.get("/v1/jobs", headers=headers)
    assert r.headers["ratelimit-policy"] == '"default-1";q=2;w=1,"default-2";q=100;w=3600'


def test_a_rate_limit_that_is_not_one_is_refused_when_the_app_is_made(settings):
    with pytest.raises(ServeError, match="FENTA_RATE_LIMIT 'lots' is not a rate limit"):
        create_app(dataclasses.replace(settings, rate_limit="lots"))


def test_a_body_over_the_cap_is_413_whether_announced_or_streamed(settings, token):
    headers = {**auth(token("editor")), "content-type": "application/json"}
    big = b'{"workflow": {"name": "' + b"x" * 2_000_000 + b'"}}'
    with _client(settings, max_body_mb=1.0) as c:
        announced = c.post("/v1/jobs", content=big, headers=headers)
        streamed = c.post("/v1/jobs", content=iter([big[:600_000], big[600_000:]]), headers=headers)
        small = c.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers)
    for r in (announced, streamed):
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json", r.text
    assert announced.json()["max_bytes"] == 1024 * 1024
    assert small.status_code == 202


def test_cors_is_off_by_default_and_allows_only_configured_origins(settings, token):
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    with _client(settings) as c:
        r = c.options("/v1/jobs", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    with _client(settings, options=ServeOptions(cors_origins=("https://app.example.com",))) as c:
        ok = c.options("/v1/jobs", headers=preflight)
        other = c.options("/v1/jobs", headers={**preflight, "Origin": "https://evil.example"})
        got = c.get("/v1/jobs", headers={**auth(token("viewer")), "Origin": "https://app.example.com"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers
    assert got.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "ratelimit" in got.headers["access-control-expose-headers"].lower()


def test_the_servers_settings_come_from_the_environment(tmp_path):
    from fenta.config import Settings

    env = {
        "FENTA_HOME": str(tmp_path),
        "FENTA_RATE_LIMIT": " 10/second ",
        "FENTA_MAX_BODY_MB": "2.5",
        "FENTA_MAX_UPLOAD_MB": "50",
        "FENTA_CORS_ORIGINS": "https://a.example, https://b.example,",
        "FENTA_LOG_FORMAT": "JSON",
    }
    s = Settings.from_env(env, cwd=tmp_path)
    assert (s.rate_limit, s.max_body_mb, s.max_upload_mb, s.log_format) == ("10/second", 2.5, 50.0, "json")
    assert s.cors_origins == ("https://a.example", "https://b.example")
    d = Settings.from_env({"FENTA_HOME": str(tmp_path)}, cwd=tmp_path)
    assert (d.rate_limit, d.max_body_mb, d.max_upload_mb, d.cors_origins, d.log_format) == (
        "600/minute",
        10.0,
        500.0,
        (),
        "text",
    )
