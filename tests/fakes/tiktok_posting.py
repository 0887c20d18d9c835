"""A fake TikTok Content Posting API (Direct Post of a file) on 127.0.0.1, built on the sign-in fake
(`tests.fakes.tiktok`), from publishing-contracts.md §2.4-2.8 and the §5.2 checklist; by hand:
`python -m tests.fakes.tiktok_posting`.

    POST /v2/post/publish/creator_info/query/   the creator (private account: no PUBLIC_TO_EVERYONE)
    POST /v2/post/publish/video/init/           checks privacy, the caption and the chunk plan under
                                                both readings of "MB"; publish_id + upload_url
    PUT  /upload/video/?upload_id=&upload_token= the chunks in order (206, 201 at the end), no token
    POST /v2/post/publish/status/fetch/         PROCESSING_UPLOAD -> PUBLISH_COMPLETE | FAILED

Answers carry `error.code`; `creator_error` answers `spam_risk_*` with HTTP 200, as TikTok does. Rate
limits per minute (20 / 6 / 30) answer 429 `rate_limit_exceeded`. An unaudited app (`unaudited`, the
default) may post only SELF_ONLY. Faults for the next PUTs, in order (`put_faults`):

    {"status": 503}      answered with that status (nothing kept)
    {"drop": True}       the connection drops mid-body (nothing kept)
    {"expire_url": True} the upload URL has expired: 403
    {"expire_token": True} the chunk is kept; every access token goes stale (the next call: 401)
    {"hang": S}          the chunk is kept (the upload completes if it was the last), then S s of silence
    {"stall": S}         S s of silence, then a 503 and nothing kept

Knobs: `account_type` ("private" | "public"), `max_seconds`, `unaudited`, `fail_reasons` (the next
posts end FAILED with these reasons), `processing_polls` (status checks before PUBLISH_COMPLETE).
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes._server import Reply, Request
from tests.fakes.tiktok import FakeTikTok

_LIMITS = {"creator_info": 20, "init": 6, "status": 30}
_MB, _MIB = 1_000_000, 1024 * 1024
USERNAME = "fakecreator"


def envelope(status: int, code: str = "ok", data: dict | None = None, message: str = "") -> Reply:
    return Reply(status, {"data": data or {}, "error": {"code": code, "message": message, "log_id": "x"}})


@dataclass
class Publish:
    publish_id: str
    upload_id: str
    token: str
    post_info: dict[str, Any]
    size: int
    chunk_size: int
    count: int
    data: bytearray = field(default_factory=bytearray)
    url_expired: bool = False
    polls: int = 0
    status: str = "PROCESSING_UPLOAD"
    fail_reason: str = ""
    post_id: str | None = None


def chunk_plan_problem(size: int, chunk: int, count: int) -> str | None:
    """What is wrong with a chunk plan under either reading of "MB" (None: valid under both)."""
    if count < 1 or count > 1000:
        return "total_chunk_count must be 1-1000"
    if count == 1:
        if chunk != size:
            return "a single chunk must be the whole video"
        return "a video over 64 MB must be uploaded in chunks" if size > 64 * _MB else None
    if chunk < 5 * _MIB or chunk > 64 * _MB:
        return "chunk_size must be 5 MB-64 MB"
    if count != size // chunk:
        return "total_chunk_count must be video_size / chunk_size, rounded down"
    if size - (count - 1) * chunk > 128 * _MB:
        return "the final chunk may be at most 128 MB"
    return None


class FakeTikTokPosting(FakeTikTok):
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        super().__init__()
        self.routes = [r for r in self.routes if "creator_info" not in r[1].pattern]
        self.route("POST", r"/v2/post/publish/creator_info/query/", self._creator_info)
        self.route("POST", r"/v2/post/publish/video/init/", self._init)
        self.route("PUT", r"/upload/video/", self._put)
        self.route("POST", r"/v2/post/publish/status/fetch/", self._status)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.publishes: dict[str, Publish] = {}
            self.put_faults: list[dict[str, Any]] = []
            self.account_type = "private"
            self.max_seconds = 600
            self.unaudited = True
            self.fail_reasons: list[str] = []
            self.processing_polls = 1
            self.calls: dict[str, deque[float]] = {k: deque() for k in _LIMITS}
            self.put_with_token = 0

    # -- for tests ---------------------------------------------------------------------------

    @property
    def posts(self) -> list[Publish]:
        """Every post TikTok published, oldest first."""
        return [p for p in self.publishes.values() if p.status == "PUBLISH_COMPLETE"]

    def inits(self) -> list[Request]:
        return self.requests_to("/video/init/")

    def puts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PUT"]

    def expire_access(self) -> None:
        self.access = {token: 0.0 for token in self.access}

    # -- checks ------------------------------------------------------------------------------

    def _refused(self, req: Request, limit: str) -> Reply | None:
        token = req.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.access.get(token, 0) < time.time():
            return envelope(401, "access_token_invalid", message="The access token is invalid or not found.")
        window = self.calls[limit]
        now = time.monotonic()
        while window and window[0] < now - 60:
            window.popleft()
        if len(window) >= _LIMITS[limit]:
            return envelope(429, "rate_limit_exceeded", message="The API rate limit was exceeded.")
        window.append(now)
        if "json" not in req.headers.get("Content-Type", ""):
            return envelope(400, "invalid_params", message="Content-Type must be application/json")
        return None

    def _options(self) -> list[str]:
        if self.account_type == "public":
            return ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
        return ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]

    # -- routes --------------------------------------------------------------------------------

    def _creator_info(self, req: Request, m: Any) -> Reply:
        refused = self._refused(req, "creator_info")
        if refused:
            return refused
        if self.creator_error:  # TikTok sends these with HTTP 200 on purpose
            return envelope(200, self.creator_error, message="Spam risk.")
        data = {
            "creator_avatar_url": "https://example.invalid/a.jpg",
            "creator_username": USERNAME,
            "creator_nickname": "Fake Creator",
            "privacy_level_options": self._options(),
            "comment_disabled": False,
            "duet_disabled": False,
            "stitch_disabled": True,
            "max_video_post_duration_sec": self.max_seconds,
        }
        return envelope(200, data=data)

    def _init(self, req: Request, m: Any) -> Reply:
        refused = self._refused(req, "init")
        if refused:
            return refused
        body = req.json() or {}
        post, source = body.get("post_info") or {}, body.get("source_info") or {}
        privacy = post.get("privacy_level")
        if "brand_content_toggle" not in post or not isinstance(post.get("title", ""), str):
            return envelope(400, "invalid_param", message="post_info.brand_content_toggle is required")
        if len(post.get("title", "").encode("utf-16-le")) // 2 > 2200:
            return envelope(400, "invalid_param", message="title is over 2200 runes")
        if self.unaudited and (privacy != "SELF_ONLY" or self.account_type == "public"):
            return envelope(403, "unaudited_client_can_only_post_to_private_accounts")
        if privacy not in self._options():
            return envelope(403, "privacy_level_option_mismatch")
        if source.get("source") != "FILE_UPLOAD":
            return envelope(400, "invalid_param", message="source must be FILE_UPLOAD")
        size, chunk, count = (
            int(source.get(k) or 0) for k in ("video_size", "chunk_size", "total_chunk_count")
        )
        problem = chunk_plan_problem(size, chunk, count)
        if problem:
            return envelope(400, "invalid_param", message=problem)
        n = next(self._ids)
        publish = Publish(f"v_pub_file~v2-1.{n}", f"up{n}", secrets.token_hex(6), post, size, chunk, count)
        self.publishes[publish.publish_id] = publish
        url = f"{self.url}/upload/video/?upload_id={publish.upload_id}&upload_token={publish.token}"
        return envelope(200, data={"publish_id": publish.publish_id, "upload_url": url})

    def _upload_of(self, query: dict[str, list[str]]) -> Publish | None:
        upload_id, token = (query.get(k, [""])[0] for k in ("upload_id", "upload_token"))
        return next(
            (p for p in self.publishes.values() if (p.upload_id, p.token) == (upload_id, token)), None
        )

    def cut_at(self, method: str, path: str, query: dict, headers: dict[str, str]) -> int | None:
        with self.lock:
            if method == "PUT" and self.put_faults and "drop" in self.put_faults[0]:
                self.put_faults.pop(0)
                return int(headers.get("Content-Length") or 0) // 2
        return None

    def _put(self, req: Request, m: Any) -> Reply:
        if req.headers.get("Authorization"):
            self.put_with_token += (
                1  # the upload URL carries its own token: a bearer token has no business here
            )
        publish = self._upload_of(req.query)
        if publish is None:
            return Reply(404, "upload task not found")
        with self.lock:
            fault = self.put_faults.pop(0) if self.put_faults else {}
        if "expire_url" in fault:
            publish.url_expired = True
        if publish.url_expired:
            return Reply(403, "the upload_url has expired")
        if "stall" in fault:
            time.sleep(float(fault["stall"]))
            return Reply(503, "gateway error")
        if "status" in fault:
            return Reply(int(fault["status"]), "internal error")
        if req.headers.get("Content-Type") not in ("video/mp4", "video/quicktime", "video/webm"):
            return Reply(400, "Content-Type must be video/mp4, video/quicktime or video/webm")
        span = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", req.headers.get("Content-Range", "").strip())
        start = len(publish.data)
        last_start = (publish.count - 1) * publish.chunk_size
        end = publish.size if start >= last_start else start + publish.chunk_size
        expected = (start, end - 1, publish.size)
        if span is None or tuple(int(g) for g in span.groups()) != expected or len(req.body) != end - start:
            return Reply(416, "", {"Content-Range": f"bytes 0-{start - 1}/{publish.size}"})
        publish.data += req.body
        if "expire_token" in fault:
            self.expire_access()
        if "hang" in fault:
            time.sleep(float(fault["hang"]))
        if len(publish.data) < publish.size:
            return Reply(206, b"", {"Content-Range": f"bytes 0-{len(publish.data) - 1}/{publish.size}"})
        return Reply(201, b"")

    def _status(self, req: Request, m: Any) -> Reply:
        refused = self._refused(req, "status")
        if refused:
            return refused
        publish = self.publishes.get((req.json() or {}).get("publish_id", ""))
        if publish is None:
            return envelope(400, "invalid_publish_id", message="publish_id is invalid")
        if len(publish.data) == publish.size and publish.status == "PROCESSING_UPLOAD":
            publish.polls += 1
            if publish.polls > self.processing_polls:
                if self.fail_reasons:
                    publish.status, publish.fail_reason = "FAILED", self.fail_reasons.pop(0)
                else:
                    publish.status = "PUBLISH_COMPLETE"
                    if publish.post_info.get("privacy_level") != "SELF_ONLY":
                        publish.post_id = f"7{next(self._ids):018d}"
        data = {
            "status": publish.status,
            "uploaded_bytes": len(publish.data),
            "publicaly_available_post_id": [int(publish.post_id)] if publish.post_id else [],
        }
        if publish.fail_reason:
            data["fail_reason"] = publish.fail_reason
        return envelope(200, data=data)


_shared: list[FakeTikTokPosting] = []


@pytest.fixture
def tiktok_posting_fake(fenta_home, monkeypatch):
    """The session's fake TikTok (sign-in and posting; state reset), with fenta pointed at it, an account
    in the environment (FENTA_TIKTOK_CLIENT_KEY, ..._SECRET, ..._REFRESH_TOKEN) and waits shrunk."""
    if not _shared:
        _shared.append(FakeTikTokPosting().start())
    fake = _shared[0]
    fake.reset()
    env = {**fake.env(), "FENTA_BACKOFF_SCALE": "0.001", "FENTA_PUBLISH_TIME_SCALE": "0.001"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield fake
    fake.reset()


if __name__ == "__main__":  # by hand
    fake = FakeTikTokPosting().start()
    fake.serve_by_hand(fake.env())
