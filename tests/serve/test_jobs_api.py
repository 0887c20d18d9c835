"""`/v1/jobs`: queueing (with Idempotency-Key), listing with cursors, showing, cancelling, retrying."""

from __future__ import annotations

import pytest

from .conftest import WORKFLOW, auth


@pytest.fixture
def owner(token) -> dict[str, str]:
    return auth(token("owner"))


def test_a_job_is_queued_with_202_its_location_and_the_untrusted_renders_folder(client, owner, settings):
    r = client.post(
        "/v1/jobs",
        json={"workflow": WORKFLOW, "vars": {"script": "Hi."}, "name": "hello", "priority": 3},
        headers=owner,
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["priority"] == 3 and job["missing_keys"] == []
    assert r.headers["location"] == f"http://127.0.0.1:8000/v1/jobs/{job['id']}" == job["links"]["self"]
    shown = client.get(f"/v1/jobs/{job['id']}", headers=owner).json()
    assert shown["id"] == job["id"] and shown["workflow"] == "hello" and shown["artifacts"] == []
    from fenta.engine.store import JobStore

    store = JobStore(settings.db_path)
    assert store.get_job(job["id"]).out_dir == str(settings.home / "renders")
    store.close()


def test_an_invalid_workflow_is_a_problem_listing_every_problem(client, owner):
    doc = {"nodes": {"a": {"type": "Nope.Node"}, "b": {"type": "Input.Text", "params": {"txt": 1}}}}
    r = client.post("/v1/jobs", json={"workflow": doc}, headers=owner)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Invalid workflow" and body["type"].endswith("/invalid-workflow")
    assert len(body["errors"]) >= 2 and body["detail"] == f"{len(body['errors'])} problems found"
    nodes = {e.get("node") for e in body["errors"]}
    assert {"a", "b"} <= nodes
    assert any(e.get("pointer", "").startswith("/workflow/nodes/b/params") for e in body["errors"])
    assert client.get("/v1/jobs", headers=owner).json()["items"] == []


def test_a_malformed_request_body_is_a_problem_too(client, owner):
    r = client.post("/v1/jobs", json={"workflow": WORKFLOW, "priority": "high", "colour": 1}, headers=owner)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert {e["location"] for e in r.json()["errors"]} >= {"body.priority", "body.colour"}


def test_an_idempotency_key_replays_the_first_answer(client, owner):
    body = {"workflow": WORKFLOW, "name": "once"}
    first = client.post("/v1/jobs", json=body, headers={**owner, "Idempotency-Key": '"8e03978e-40d5-43e8"'})
    again = client.post("/v1/jobs", json=body, headers={**owner, "Idempotency-Key": '"8e03978e-40d5-43e8"'})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert len(client.get("/v1/jobs", headers=owner).json()["items"]) == 1


def test_the_same_key_with_another_body_is_422(client, owner):
    client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers={**owner, "Idempotency-Key": "k1"})
    r = client.post(
        "/v1/jobs", json={"workflow": WORKFLOW, "priority": 5}, headers={**owner, "Idempotency-Key": "k1"}
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/idempotency-key-reused")


def test_a_repeat_while_the_first_request_is_in_flight_is_409(client, owner, settings):
    from fenta.serve.access import authenticate
    from fenta.serve.service import _fingerprint
    from fenta.serve.store import ServeStore

    body = {"workflow": WORKFLOW, "vars": {}, "name": None, "priority": 0, "preview": False}
    store = ServeStore(settings)
    principal = authenticate(store, owner["Authorization"])
    assert (
        store.claim_key(principal.token_id, "k2", _fingerprint(body), 1e12, 60)[0] == "new"
    )  # a first request, still running
    store.close()
    r = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers={**owner, "Idempotency-Key": "k2"})
    assert r.status_code == 409 and r.json()["type"].endswith("/idempotency-key-in-flight")


def test_keys_belong_to_their_token(client, token):
    a, b = auth(token("editor")), auth(token("editor"))
    one = client.post(
        "/v1/jobs", json={"workflow": WORKFLOW}, headers={**a, "Idempotency-Key": "same"}
    ).json()
    two = client.post(
        "/v1/jobs", json={"workflow": WORKFLOW}, headers={**b, "Idempotency-Key": "same"}
    ).json()
    assert one["id"] != two["id"]


def test_a_refused_workflow_is_replayed_as_the_same_problem(client, owner):
    bad = {"workflow": {"nodes": {"a": {"type": "Nope"}}}}
    first = client.post("/v1/jobs", json=bad, headers={**owner, "Idempotency-Key": "bad"})
    again = client.post("/v1/jobs", json=bad, headers={**owner, "Idempotency-Key": "bad"})
    assert first.status_code == again.status_code == 422
    assert again.json()["errors"] == first.json()["errors"] and again.headers["idempotent-replayed"] == "true"


def test_jobs_are_listed_newest_first_a_page_at_a_time_with_opaque_cursors(client, owner):
    made = [
        client.post("/v1/jobs", json={"workflow": WORKFLOW, "name": f"j{i}"}, headers=owner).json()["id"]
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=owner
        ).json()
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))
    assert client.get("/v1/jobs", params={"status": "completed"}, headers=owner).json()["items"] == []
    first = client.get("/v1/jobs", params={"limit": 2}, headers=owner).json()["next_cursor"]
    r = client.get("/v1/jobs", params={"cursor": first, "status": "queued"}, headers=owner)
    assert r.status_code == 400 and r.json()["title"] == "Bad cursor"
    assert client.get("/v1/jobs", params={"cursor": "garbage"}, headers=owner).status_code == 400


def test_cancel_and_retry_a_queued_job_and_409_when_it_cannot(client, owner):
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=owner).json()
    assert client.post(f"/v1/jobs/{job['id']}/retry", headers=owner).status_code == 409
    r = client.post(f"/v1/jobs/{job['id']}/cancel", headers=owner)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=owner).status_code == 409
    r = client.post(f"/v1/jobs/{job['id']}/retry", headers=owner)
    assert r.status_code == 200 and r.json()["status"] == "queued"


def test_an_unknown_job_and_a_prefix_of_an_id_are_404(client, owner):
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=owner).json()
    for path in ("/v1/jobs/nope", f"/v1/jobs/{job['id'][:10]}", f"/v1/jobs/{job['id']}/artifacts/x.mp4"):
        r = client.get(path, headers=owner)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path


def test_a_files_download_answers_ranges_416_and_304(client, owner, workers):
    from .conftest import wait_for

    job = client.post("/v1/jobs", json={"workflow": WORKFLOW, "name": "files"}, headers=owner).json()
    workers(1)
    done = wait_for(
        lambda: (
            (j := client.get(f"/v1/jobs/{job['id']}", headers=owner).json())["status"] == "completed" and j
        ),
        timeout=60,
    )
    arts = {a["kind"]: a for a in done["artifacts"]}
    assert {"video", "thumbnail", "timeline"} <= set(arts) and arts["video"]["name"] == "files.mp4"
    video = arts["video"]
    whole = client.get(video["url"], headers=owner)
    assert (
        whole.status_code == 200
        and whole.headers["content-type"] == "video/mp4"
        and len(whole.content) == video["size"]
    )
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"]
    tail = client.get(video["url"], headers={**owner, "Range": f"bytes={video['size'] - 10}-"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    outside = client.get(video["url"], headers={**owner, "Range": f"bytes={video['size'] + 5}-"})
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{video['size']}"
    head = client.head(video["url"], headers=owner)
    assert head.status_code == 200 and head.headers["etag"] == whole.headers["etag"] and head.content == b""
    assert int(head.headers["content-length"]) == video["size"]
    same = client.get(video["url"], headers={**owner, "If-None-Match": whole.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/../fenta.db", headers=owner).status_code == 404


def test_concurrent_requests_in_a_fresh_server_all_see_every_node_type(tmp_path):
    """The node registry loads lazily and not thread-safely; the app loads it before requests run."""
    import subprocess
    import sys

    script = (
        "import json, pathlib\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from fenta.config import Settings\n"
        "from fenta.serve.app import create_app\n"
        "from fenta.serve.models import EXAMPLE_WORKFLOW\n"
        "from fenta.serve.untrusted import load_untrusted\n"
        f"settings = Settings(home=pathlib.Path({str(tmp_path)!r}))\n"
        "create_app(settings)\n"
        "def one(i):\n"
        "    try:\n"
        "        load_untrusted(EXAMPLE_WORKFLOW, {'script': str(i)}, settings)\n"
        "        return 'ok'\n"
        "    except Exception as e:\n"
        "        return str(e)\n"
        "with ThreadPoolExecutor(16) as ex:\n"
        "    print(json.dumps(sorted(set(ex.map(one, range(64))))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '["ok"]'
