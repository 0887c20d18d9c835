"""Live progress over SSE from the event log: resume with Last-Event-ID, `event: end`, then 204."""

from __future__ import annotations

import json

import httpx

from fenta.engine.events import read_events
from fenta.engine.store import JobStore

from .conftest import WORKFLOW, auth, sse_frames, wait_for


def _log(settings, job_id: str) -> list[int]:
    store = JobStore(settings.db_path)
    try:
        return [e.id for e in read_events(store, job_id=job_id, limit=100000)]
    finally:
        store.close()


def test_submit_follow_with_a_dropped_connection_resumed_and_download_with_range(
    live, token, workers, settings
):
    """The whole path a web app takes, over a real socket."""
    srv = live()
    headers = auth(token("editor"))
    with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as http:
        job = http.post("/v1/jobs", json={"workflow": WORKFLOW, "name": "live"}).json()
        workers(1)
        seen: list[dict] = []
        with http.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-accel-buffering"] == "no"
            for frame in sse_frames(r.iter_lines()):
                if "id" in frame:
                    seen.append(frame)
                if len(seen) == 3:
                    break  # the connection drops here
        last = seen[-1]["id"]
        ended = None
        with http.stream("GET", f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": last}) as r:
            for frame in sse_frames(r.iter_lines()):
                if frame.get("event") == "end":
                    ended = json.loads(frame["data"])
                    break
                if "id" in frame:
                    seen.append(frame)
        assert ended == {"jobId": job["id"], "status": "completed"}
        ids = [int(f["id"]) for f in seen]
        assert ids == _log(settings, job["id"])  # none lost, none twice, in order
        payloads = [json.loads(f["data"]) for f in seen]
        assert all(p["id"] == int(f["id"]) and p["type"] == f["event"] for p, f in zip(payloads, seen))
        assert payloads[-1]["type"] == "job.completed" and payloads[0]["type"] == "job.queued"
        again = http.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": str(ids[-1])})
        assert again.status_code == 204  # an EventSource stops reconnecting
        video = next(a for a in http.get(f"/v1/jobs/{job['id']}").json()["artifacts"] if a["kind"] == "video")
        part = http.get(video["url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.headers["content-range"] == f"bytes 0-99/{video['size']}"
        assert part.content[4:8] == b"ftyp" and len(part.content) == 100


def test_a_stream_starts_after_the_after_parameter_and_the_header_wins_when_larger(client, token):
    headers = auth(token("editor"))
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers).json()
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
    client.post(f"/v1/jobs/{job['id']}/retry", headers=headers)
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", params={"after": 0}, headers=headers) as r:
        ids = [int(f["id"]) for f in sse_frames(r.iter_lines()) if "id" in f]
    assert len(ids) == 4  # queued, cancelled, queued, cancelled; then the stream ended
    with client.stream(
        "GET",
        f"/v1/jobs/{job['id']}/events",
        params={"after": ids[0]},
        headers={**headers, "Last-Event-ID": str(ids[1])},
    ) as r:
        frames = list(sse_frames(r.iter_lines()))
    assert [int(f["id"]) for f in frames if "id" in f] == ids[2:] and frames[-1]["event"] == "end"


def test_an_idle_stream_sends_pings_and_every_new_event(client, token):
    headers = auth(token("editor"))
    with client.stream("GET", "/v1/events", headers=headers) as r:
        lines = r.iter_lines()
        first = [next(lines) for _ in range(4)]
        assert any(line.startswith(": ping") for line in [*first, next(lines), next(lines)])
        job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=headers).json()
        frame = next(f for f in sse_frames(lines) if f.get("event") == "job.queued")
        assert json.loads(frame["data"])["jobId"] == job["id"]


def test_a_bad_last_event_id_is_400_and_an_unknown_job_404(client, token):
    headers = auth(token("viewer"))
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(token("editor"))).json()
    r = client.get(f"/v1/jobs/{job['id']}/events", headers={**headers, "Last-Event-ID": "abc"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/jobs/nope/events", headers=headers).status_code == 404


def test_sse_streams_are_counted_while_open(live, token):
    srv = live()
    with httpx.Client(base_url=srv.url, headers=auth(token("owner")), timeout=10) as http:

        def gauge() -> float:
            text = http.get("/metrics").text
            return float(
                next(line.split()[-1] for line in text.splitlines() if line.startswith("fenta_sse_streams "))
            )

        with http.stream("GET", "/v1/events") as r:
            frames = sse_frames(r.iter_lines())  # kept: dropping the generator would close the stream
            next(frames)
            assert wait_for(lambda: gauge() == 1.0, timeout=5)
        assert wait_for(lambda: gauge() == 0.0, timeout=5)
