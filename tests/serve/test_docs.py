"""docs/api.md stays true: a curl example for every route, and the permission matrix as the code has it."""

from __future__ import annotations

import re

from fenta.serve.access import ROLE_SCOPES, ROLES, SCOPES

from .conftest import REPO, api_routes

DOC = (REPO / "docs" / "api.md").read_text(encoding="utf-8")


def _curl_lines() -> list[str]:
    """Every curl command, its continuation lines (after a trailing backslash) joined to it."""
    joined = re.sub(r"\\\n\s*", " ", DOC)
    return [line for line in joined.splitlines() if line.lstrip().startswith("curl ")]


def test_the_route_walk_sees_the_included_routers(client):
    paths = {r.path for r in api_routes(client.app)}
    assert {"/v1/jobs", "/v1/jobs/{job_id}/events", "/v1/webhooks/deliveries"} <= paths


def test_every_route_has_a_curl_example(client):
    lines = _curl_lines()
    missing = []
    for route in api_routes(client.app):  # the dashboard's pages are not API routes (README: Dashboard)
        pattern = re.escape(route.path)
        pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/?\"' ]+", pattern) + r"(?:[\"'?\s]|$)"
        for method in route.methods - {"HEAD"}:
            found = [
                line
                for line in lines
                if re.search(pattern, line)
                and (
                    method == "GET"
                    and " -X " not in line
                    and " -d " not in line
                    and "--data" not in line
                    or f"-X {method}" in line
                    or method == "POST"
                    and " -d " in line
                    and " -X " not in line
                )
            ]
            if not found:
                missing.append(f"{method} {route.path}")
    assert missing == []


def test_the_permission_matrix_is_the_codes():
    rows = [line for line in DOC.splitlines() if re.match(r"^\| `[a-z]+:[a-z]+` \|", line)]
    table = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        table[cells[0].strip("`")] = {
            role for role, cell in zip(ROLES, cells[1:5], strict=True) if cell == "✓"
        }
    assert set(table) == set(SCOPES)
    for scope, roles in table.items():
        assert roles == {r for r in ROLES if scope in ROLE_SCOPES[r]}, scope
