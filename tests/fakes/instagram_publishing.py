"""A fake Instagram content publishing API (Reels) on 127.0.0.1, built on the sign-in fake
(`tests.fakes.instagram`), from publishing-contracts.md §3.2-3.8 and the §5.3 checklist; by hand:
`python -m tests.fakes.instagram_publishing`. Every path is served with and without a `/vNN.N/` prefix.

    GET  /{ig-user}/content_publishing_limit    quota_usage (posts in a rolling 24 h) and quota_total
    POST /{ig-user}/media                       a REELS container (query, form or JSON): resumable
                                                (Facebook Login tokens) or video_url (fetched at once)
    POST /ig-api-upload/{container}             rupload: `Authorization: OAuth`, `offset`, `file_size`
    GET  /{container}?fields=status_code,...    IN_PROGRESS -> FINISHED | ERROR | EXPIRED; PUBLISHED
    POST /{ig-user}/media_publish               creation_id -> the media id (the cap is enforced here)
    GET  /{media}?fields=permalink | /{ig-user}/media   the post, and the account's posts

Errors are Graph envelopes (HTTP 400 with `code` and `error_subcode`). Faults for the next rupload
POSTs (`upload_faults`): {"status": 503} (debug_info retriable, nothing kept), {"drop": True} (the
connection drops halfway; the half is kept), {"hang": S} (kept, then S s of silence). Knobs:
`quota_total`, `used_before` (posts already made today), `outcomes` (how the next containers end:
"ERROR: <status>" or "EXPIRED"), `processing_polls`, `publish_hang` (S s of silence after publishing).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.fakes._server import Reply, Request
from tests.fakes.instagram import IG_USER, FakeInstagram, _graph_error

V = r"(?:/v\d+\.\d+)?"


@dataclass
class Container:
    id: str
    fields: dict[str, str]
    created: float
    data: bytearray = field(default_factory=bytearray)
    size: int | None = None
    polls: int = 0
    status_code: str = "IN_PROGRESS"
    status: str = ""
    media_id: str | None = None


class FakeInstagramPublishing(FakeInstagram):
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        super().__init__()
        base, self.routes = self.routes, []
        self.route("GET", rf"{V}/(?P<user>\d+)/content_publishing_limit", self._limit)
        self.route("POST", rf"{V}/(?P<user>\d+)/media", self._create)
        self.route("GET", rf"{V}/(?P<user>\d+)/media", self._listing)
        self.route("POST", rf"{V}/(?P<user>\d+)/media_publish", self._publish)
        self.route("POST", rf"/ig-api-upload{V}/(?P<cid>\d+)", self._rupload)
        self.route("GET", rf"{V}/(?P<oid>\d+)", self._object)
        self.routes += base

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.containers: dict[str, Container] = {}
            self.media: dict[str, dict[str, Any]] = {}
            self.upload_faults: list[dict[str, Any]] = []
            self.quota_total = 100
            self.used_before = 0
            self.outcomes: list[str] = []
            self.processing_polls = 1
            self.publish_hang = 0.0

    # -- for tests ---------------------------------------------------------------------------

    def env(self, setup: str = "facebook") -> dict[str, str]:
        """Variables that point fenta at this fake with an account from the environment."""
        return {
            "FENTA_INSTAGRAM_URL": self.url,
            "FENTA_INSTAGRAM_UPLOAD_URL": self.url,
            "FENTA_INSTAGRAM_ACCESS_TOKEN": self._new("page" if setup == "facebook" else "ig-long"),
            "FENTA_INSTAGRAM_USER_ID": IG_USER,
            "FENTA_INSTAGRAM_SETUP": setup,
        }

    @property
    def posts(self) -> list[dict[str, Any]]:
        """Every Reel published, oldest first."""
        return list(self.media.values())

    def uploaded(self, post: dict[str, Any]) -> bytes:
        return bytes(self.containers[post["container"]].data)

    # -- helpers ---------------------------------------------------------------------------------

    def _token(self, req: Request) -> str | None:
        auth = req.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else req.q("access_token") or ""
        return token if token in self.tokens and token not in self.dead else None

    def _form(self, req: Request) -> dict[str, str]:
        if req.headers.get("Content-Type", "").startswith("application/json"):
            return {k: str(v) for k, v in (req.json() or {}).items()}
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        return {**{k: v[0] for k, v in req.query.items()}, **form}

    def _used(self) -> int:
        day_ago = time.time() - 86400
        return self.used_before + sum(1 for m in self.media.values() if m["made"] > day_ago)

    # -- routes --------------------------------------------------------------------------------

    def _limit(self, req: Request, m: Any) -> Reply:
        if self._token(req) is None:
            return _graph_error("Invalid OAuth access token.")
        row: dict[str, Any] = {"quota_usage": self._used()}
        if "config" in (req.q("fields") or ""):
            row["config"] = {"quota_total": self.quota_total, "quota_duration": 86400}
        return Reply(200, {"data": [row]})

    def _create(self, req: Request, m: Any) -> Reply:
        token = self._token(req)
        if token is None or m["user"] != IG_USER:
            return _graph_error("Invalid OAuth access token.")
        form = self._form(req)
        if form.get("media_type") != "REELS":
            return _graph_error("The media type is not supported.", 100, 400)
        text = form.get("caption", "")
        if len(text) > 2200 or text.count("#") > 30 or text.count("@") > 20:
            return Reply(
                400, {"error": {"message": "caption too long", "code": 36004, "error_subcode": 2207010}}
            )
        cid = f"1789{next(self._ids):011d}"
        container = Container(cid, form, time.time())
        if form.get("upload_type") == "resumable":
            if self.tokens[token] not in ("page", "user"):  # documented only for Facebook Login
                return _graph_error("Resumable upload is only for Facebook Login for Business apps.", 100)
            self.containers[cid] = container
            return Reply(200, {"id": cid, "uri": f"{self.url}/ig-api-upload/v21.0/{cid}"})
        if not form.get("video_url"):
            return _graph_error("video_url or upload_type=resumable is required", 100)
        try:
            with urllib.request.urlopen(form["video_url"], timeout=10) as fetched:  # "we cURL your URL"
                container.data += fetched.read()
        except OSError:
            error = {"message": "The media could not be fetched from this uri", "code": 9004}
            return Reply(400, {"error": {**error, "error_subcode": 2207052}})
        container.size = len(container.data)
        self.containers[cid] = container
        return Reply(200, {"id": cid})

    def cut_at(self, method: str, path: str, query: dict, headers: dict[str, str]) -> int | None:
        with self.lock:
            if "/ig-api-upload/" in path and self.upload_faults and "drop" in self.upload_faults[0]:
                self.upload_faults.pop(0)
                return int(headers.get("Content-Length") or 0) // 2
        return None

    def on_cut(self, req: Request) -> None:
        container = self.containers.get(req.path.rsplit("/", 1)[-1])
        if container is not None and int(req.headers.get("offset", -1)) == len(container.data):
            container.size = int(req.headers.get("file_size", 0))
            container.data += req.body

    def _rupload(self, req: Request, m: Any) -> Reply:
        container = self.containers.get(m["cid"])
        auth = req.headers.get("Authorization", "")
        if container is None or not auth.startswith("OAuth ") or self._token(req) is None:
            failed = {"success": False, "error": {"message": "unauthorized user request"}}
            info = {"retriable": False, "type": "ProcessingFailedError", "message": json.dumps(failed)}
            return Reply(400, {"debug_info": info})
        with self.lock:
            fault = self.upload_faults.pop(0) if self.upload_faults else {}
        if "status" in fault:
            info = {"retriable": True, "type": "ServiceUnavailable", "message": "try again"}
            return Reply(int(fault["status"]), {"debug_info": info})
        offset, size = int(req.headers.get("offset", -1)), int(req.headers.get("file_size", -1))
        if offset != len(container.data) or offset + len(req.body) != size:
            info = {"retriable": False, "type": "ProcessingFailedError", "message": "offset mismatch"}
            return Reply(400, {"debug_info": info})
        container.size = size
        container.data += req.body
        if "hang" in fault:
            time.sleep(float(fault["hang"]))
        return Reply(200, {"success": True, "message": "Upload successful."})

    def _advance(self, c: Container) -> None:
        """A container's next status when it is asked about (processing takes `processing_polls` asks)."""
        if c.status_code != "IN_PROGRESS" or c.size is None or len(c.data) < c.size:
            return
        c.polls += 1
        if c.polls <= self.processing_polls:
            return
        outcome = self.outcomes.pop(0) if self.outcomes else "FINISHED"
        c.status_code, _, c.status = outcome.partition(": ")

    def _object(self, req: Request, m: Any) -> Reply:
        if self._token(req) is None:
            return _graph_error("Invalid OAuth access token.")
        oid = m["oid"]
        if oid in self.media:
            return Reply(200, {k: v for k, v in self.media[oid].items() if k not in ("made", "container")})
        container = self.containers.get(oid)
        if container is None:
            return self._profile(req, m)
        self._advance(container)
        phase = (
            "complete"
            if container.size is not None and len(container.data) >= container.size
            else "in_progress"
        )
        body = {
            "id": oid,
            "status_code": container.status_code,
            "video_status": {"uploading_phase": {"status": phase, "bytes_transferred": len(container.data)}},
        }
        if container.status:
            body["status"] = container.status
        return Reply(200, body)

    def _publish(self, req: Request, m: Any) -> Reply:
        if self._token(req) is None:
            return _graph_error("Invalid OAuth access token.")
        container = self.containers.get(self._form(req).get("creation_id", ""))
        if container is None:
            return Reply(
                400, {"error": {"message": "The media cannot be found", "code": 24, "error_subcode": 2207006}}
            )
        if container.status_code in ("EXPIRED", "PUBLISHED"):
            message = "The media builder does not exist or has been expired."
            return Reply(400, {"error": {"message": message, "code": 24, "error_subcode": 2207008}})
        if container.status_code != "FINISHED":
            message = "The media is not ready for publishing, please wait for a moment"
            return Reply(400, {"error": {"message": message, "code": 9007, "error_subcode": 2207027}})
        if self._used() >= self.quota_total:
            message = "You reached maximum number of posts that is allowed to be published by "
            message += "Content Publishing API."
            return Reply(400, {"error": {"message": message, "code": 9, "error_subcode": 2207042}})
        media_id = f"1792{next(self._ids):011d}"
        container.status_code, container.media_id = "PUBLISHED", media_id
        self.media[media_id] = {
            "id": media_id,
            "caption": container.fields.get("caption", ""),
            "timestamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "permalink": f"https://www.instagram.com/reel/Fake{media_id[-6:]}/",
            "media_product_type": "REELS",
            "media_type": "VIDEO",
            "made": time.time(),
            "container": container.id,
        }
        if self.publish_hang:
            time.sleep(self.publish_hang)
        return Reply(200, {"id": media_id})

    def _listing(self, req: Request, m: Any) -> Reply:
        if self._token(req) is None:
            return _graph_error("Invalid OAuth access token.")
        items = [{k: v[k] for k in ("id", "caption", "timestamp", "permalink")} for v in reversed(self.posts)]
        return Reply(200, {"data": items[: int(req.q("limit") or 25)]})


_shared: list[FakeInstagramPublishing] = []


@pytest.fixture
def instagram_posting_fake(fenta_home, monkeypatch):
    """The session's fake Instagram (sign-in and publishing; state reset), with fenta pointed at it, a
    Facebook Login account in the environment (FENTA_INSTAGRAM_ACCESS_TOKEN, ..._USER_ID) and waits shrunk."""
    if not _shared:
        _shared.append(FakeInstagramPublishing().start())
    fake = _shared[0]
    fake.reset()
    env = {**fake.env(), "FENTA_BACKOFF_SCALE": "0.001", "FENTA_PUBLISH_TIME_SCALE": "0.001"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield fake
    fake.reset()


if __name__ == "__main__":  # by hand
    fake = FakeInstagramPublishing().start()
    fake.serve_by_hand(fake.env())
