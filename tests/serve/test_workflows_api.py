"""The server's workflows over the API: the starters and the workflow folder, each with its variables as
form fields (what the dashboard's New video page asks for)."""

from __future__ import annotations

import pytest

from .conftest import auth

DOC = """# Weekly news: a headline read aloud.
version: 1
name: weekly
vars:
  headline: Привет 🌍          # the words read aloud (# in "quotes" is not a comment)
  rate: 1.5                   # speech speed
  scenes: 3
  loud: false
nodes:
  script: {type: Input.Text, params: {text: "${vars.headline} ${vars.city}"}}
"""


@pytest.fixture
def folder(settings):
    settings.workflow_folder.mkdir(parents=True)
    (settings.workflow_folder / "weekly.yaml").write_text(DOC, encoding="utf-8")
    (settings.workflow_folder / "broken.yaml").write_text("nodes: [unclosed", encoding="utf-8")
    (settings.workflow_folder / "notes.txt").write_text("not a workflow", encoding="utf-8")
    return settings.workflow_folder


def test_the_starters_and_the_folders_workflow_files_are_listed(client, token, folder):
    listed = client.get("/v1/workflows", headers=auth(token("viewer"))).json()
    assert [w["id"] for w in listed] == [
        "starter:quickstart",
        "starter:stock",
        "starter:ai",
        "file:broken.yaml",
        "file:weekly.yaml",
    ]
    by_id = {w["id"]: w for w in listed}
    assert by_id["file:weekly.yaml"]["description"] == "Weekly news: a headline read aloud."
    assert by_id["file:broken.yaml"]["problem"].startswith("broken.yaml cannot be read")


def test_a_workflows_variables_are_form_fields_typed_by_their_defaults(client, token, folder):
    shown = client.get("/v1/workflows/file:weekly.yaml", headers=auth(token("viewer"))).json()
    assert shown["workflow"]["name"] == "weekly"
    fields = {f["name"]: f for f in shown["vars"]}
    assert fields["headline"]["default"] == "Привет 🌍" and fields["headline"]["type"] == "text"
    assert fields["headline"]["description"] == 'the words read aloud (# in "quotes" is not a comment)'
    assert (fields["rate"]["type"], fields["rate"]["description"]) == ("number", "speech speed")
    assert (fields["scenes"]["type"], fields["loud"]["type"]) == ("integer", "boolean")
    assert fields["city"]["required"] and fields["city"]["default"] is None


def test_a_starter_takes_a_template_and_its_document_queues_as_a_job(client, token):
    editor = auth(token("editor"))
    shown = client.get("/v1/workflows/starter:quickstart?template=square", headers=editor).json()
    assert shown["template"] == "square" and {f["name"] for f in shown["vars"]} == {"script", "voice"}
    voice = next(f for f in shown["vars"] if f["name"] == "voice")
    assert voice["default"] == "en-us" and "espeak voices" in voice["description"]
    job = client.post("/v1/jobs", json={"workflow": shown["workflow"], "preview": True}, headers=editor)
    assert job.status_code == 202, job.text


def test_unknown_sources_paths_and_templates_are_refused(client, token, folder):
    viewer = auth(token("viewer"))
    assert client.get("/v1/workflows/file:notes.txt", headers=viewer).status_code == 404
    assert client.get("/v1/workflows/file:..%2Fweekly.yaml", headers=viewer).status_code == 404
    assert client.get("/v1/workflows/starter:nope", headers=viewer).status_code == 404
    bad = client.get("/v1/workflows/starter:quickstart?template=nope", headers=viewer)
    assert bad.status_code == 422 and bad.json()["field"] == "template"
    broken = client.get("/v1/workflows/file:broken.yaml", headers=viewer)
    assert broken.status_code == 422 and "broken.yaml cannot be read" in broken.json()["detail"]
