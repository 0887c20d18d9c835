"""The OpenAPI document is complete, valid, secured and carries examples."""

from __future__ import annotations

from openapi_spec_validator import validate

from .conftest import api_routes


def test_the_document_is_valid_openapi_3_1(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_documented_with_a_summary_and_problem_answers(client):
    doc = client.get("/openapi.json").json()
    routes = {(m.lower(), r.path) for r in api_routes(client.app) for m in r.methods}
    assert len(routes) > 30
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routes <= documented and ("post", "/mcp") in documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            if path not in ("/v1/health", "/mcp") and not path.endswith("/bytes"):
                assert op["responses"]["401"]["content"]["application/problem+json"], (method, path)
            assert "HTTPValidationError" not in str(op)


def test_the_bearer_scheme_covers_every_route_but_health_and_the_upload_url(client):
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A fenta access token: fenta_pat_...",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    assert doc["paths"]["/v1/assets/uploads/{upload_id}/bytes"]["put"]["security"] == []


def test_request_bodies_carry_examples_that_the_api_accepts(client, token):
    doc = client.get("/openapi.json").json()
    schema = doc["components"]["schemas"]["JobCreate"]
    example = schema["examples"][0]
    r = client.post("/v1/jobs", json=example, headers={"Authorization": f"Bearer {token('editor')}"})
    assert r.status_code == 202, r.text


def test_docs_pages_are_served(client):
    assert client.get("/docs").status_code == 200
