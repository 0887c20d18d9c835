"""Everything a client sends is untrusted: a hosted-style hostile document is refused as a problem."""

from __future__ import annotations

from .conftest import auth


def test_a_document_naming_a_local_file_is_refused_before_a_job_exists(client, token, tmp_path):
    secret = tmp_path / ".env"
    secret.write_text("OPENROUTER_API_KEY=sk-secret\n")
    doc = {"nodes": {"t": {"type": "Input.Text", "params": {"path": str(secret)}}}}
    headers = auth(token("editor"))
    for path in ("/v1/jobs", "/v1/estimate"):
        r = client.post(path, json={"workflow": doc}, headers=headers)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", path
        assert any(e.get("node") == "t" and "path" in e.get("field", "") for e in r.json()["errors"])
        assert "sk-secret" not in r.text
    assert client.get("/v1/jobs", headers=headers).json()["items"] == []
    assert (
        client.post("/v1/workflows/validate", json={"workflow": doc}, headers=headers).json()["valid"]
        is False
    )


def test_a_document_naming_a_private_address_is_refused(client, token):
    doc = {
        "nodes": {
            "a": {"type": "Input.Asset", "params": {"paths": ["http://169.254.169.254/latest/meta-data.mp4"]}}
        }
    }
    r = client.post("/v1/jobs", json={"workflow": doc}, headers=auth(token("editor")))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_every_workflow_the_server_loads_goes_through_load_untrusted():
    """One door: the routes and tools never call the loader themselves."""
    import ast
    from pathlib import Path

    import fenta.serve

    folder = Path(fenta.serve.__file__).parent
    callers = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("engine.spec"):
                callers += [
                    f"{path.name}: {a.name}"
                    for a in node.names
                    if a.name in ("load", "loads", "from_document")
                ]
    assert callers and {c.split(":")[0] for c in callers} == {"untrusted.py"}, callers
