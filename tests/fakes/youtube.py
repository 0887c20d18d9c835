"""A fake YouTube Data API v3 (and Google OAuth) on 127.0.0.1, from publishing-contracts.md §5.1; by hand:
`python -m tests.fakes.youtube` (point FENTA_GOOGLE_OAUTH_URL and FENTA_YOUTUBE_URL at it).

    POST /upload/youtube/v3/videos?uploadType=resumable   checks token, headers and metadata; 200 + Location
    PUT  /upload/youtube/v3/videos?upload_id=...          chunks (308 + Range), final 201, `bytes */N` queries
    GET  /youtube/v3/videos | channels | playlistItems    verification and crash reconciliation

Non-final chunks keep only whole 256 KiB blocks (the Range says so: clients must honour it). Faults for
the next PUTs to a session, in order (`put_faults`):

    {"drop": K}        the connection drops after K bytes of the body (whole 256 KiB blocks kept)
    {"status": 503}    answered with that status (nothing kept)
    {"keep": N}        N bytes of the chunk kept, 308 with the shorter Range
    {"expire_token"}   every access token goes stale first: 401 authError
    {"gone"}           the session has expired: 404
    {"hang": S}        the chunk is kept (and the upload completes if it was the last), then S s of silence
                       before the answer (a client killed meanwhile never sees it)
    {"stall": S}       S s of silence, then a 503 and nothing kept (the bytes never made it)

Knobs: `quota_left` (videos.insert calls left today; 0: 403 quotaExceeded), `upload_limit` ("post" or
"final": 400 uploadLimitExceeded there), `unverified` ("insert" or "list": a public or unlisted video
comes back private), `final_status` (201 or 200).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes._server import Reply, Request
from tests.fakes.google_oauth import CLIENT_ID, CLIENT_SECRET, UPLOAD, YOUTUBE, FakeGoogleOAuth

BLOCK = 256 * 1024
_UPLOAD_SCOPES = {UPLOAD, YOUTUBE, "https://www.googleapis.com/auth/youtube.force-ssl"}
CHANNEL = "UCfakeChannel000000000001"
UPLOADS = "UUfakeChannel000000000001"


def google_error(status: int, reason: str, message: str, domain: str = "youtube.video") -> Reply:
    return Reply(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
            }
        },
    )


def _tags_length(tags: list[str]) -> int:
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1)


@dataclass
class Session:
    upload_id: str
    size: int
    content_type: str
    resource: dict[str, Any]
    data: bytearray = field(default_factory=bytearray)
    video_id: str | None = None
    expired: bool = False


class FakeYouTube(FakeGoogleOAuth):
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        super().__init__()
        self.route("POST", r"/upload/youtube/v3/videos", self._start)
        self.route("PUT", r"/upload/youtube/v3/videos", self._put)
        self.route("GET", r"/youtube/v3/videos", self._videos)
        self.route("GET", r"/youtube/v3/channels", self._channels)
        self.route("GET", r"/youtube/v3/playlistItems", self._playlist)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.sessions: dict[str, Session] = {}
            self.videos: dict[str, dict[str, Any]] = {}
            self.uploaded: dict[str, bytes] = {}
            self.put_faults: list[dict[str, Any]] = []
            self.quota_left: int | None = None
            self.upload_limit: str | None = None
            self.unverified: str | None = None
            self.final_status = 201

    # -- for tests ---------------------------------------------------------------------------

    @property
    def posts(self) -> list[dict[str, Any]]:
        """Every video made, oldest first."""
        return list(self.videos.values())

    def puts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PUT" and "/upload/" in r.path]

    def env(self, refresh_token: str | None = None) -> dict[str, str]:
        """Variables that point fenta at this fake with an account from the environment."""
        return {
            "FENTA_GOOGLE_OAUTH_URL": self.url,
            "FENTA_YOUTUBE_URL": self.url,
            "FENTA_YOUTUBE_CLIENT_ID": CLIENT_ID,
            "FENTA_YOUTUBE_CLIENT_SECRET": CLIENT_SECRET,
            "FENTA_YOUTUBE_REFRESH_TOKEN": refresh_token or self.grant(),
        }

    # -- faults that drop the connection -----------------------------------------------------

    def _session_of(self, query: dict[str, list[str]]) -> Session | None:
        return self.sessions.get((query.get("upload_id") or [""])[0])

    def cut_at(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> int | None:
        if method != "PUT" or not path.startswith("/upload/") or "*/" in headers.get("Content-Range", ""):
            return None
        with self.lock:
            if self.put_faults and "drop" in self.put_faults[0]:
                return int(self.put_faults.pop(0)["drop"])
        return None

    def on_cut(self, req: Request) -> None:
        session = self._session_of(req.query)
        start = self._range(req)
        if session and start is not None and start[0] == len(session.data):
            session.data += req.body[: len(req.body) // BLOCK * BLOCK]

    # -- routes --------------------------------------------------------------------------------

    def _unauthorized(self) -> Reply:
        return google_error(401, "authError", "Request had invalid authentication credentials.", "global")

    def _start(self, req: Request, m: Any) -> Reply:
        who = self.bearer(req)
        if who is None:
            return self._unauthorized()
        if not set(who[1].split()) & _UPLOAD_SCOPES:
            return google_error(
                403, "insufficientPermissions", "Request had insufficient authentication scopes.", "global"
            )
        if req.q("uploadType") != "resumable" or "snippet" not in (req.q("part") or ""):
            return google_error(
                400, "invalidParameter", "uploadType=resumable and part are required", "global"
            )
        try:
            size = int(req.headers.get("X-Upload-Content-Length", ""))
        except ValueError:
            return google_error(400, "invalidParameter", "X-Upload-Content-Length is required", "global")
        ctype = req.headers.get("X-Upload-Content-Type", "")
        if not (ctype.startswith("video/") or ctype == "application/octet-stream"):
            return google_error(400, "invalidParameter", "X-Upload-Content-Type must be video/*", "global")
        resource = req.json()
        invalid = self._invalid(resource)
        if invalid:
            return invalid
        if self.quota_left is not None:
            if self.quota_left <= 0:
                return google_error(
                    403,
                    "quotaExceeded",
                    "The request cannot be completed because you have exceeded "
                    'your <a href="/youtube/v3/getting-started#quota">quota</a>.',
                    "youtube.quota",
                )
            self.quota_left -= 1
        if self.upload_limit == "post":
            return google_error(
                400, "uploadLimitExceeded", "The user has exceeded the number of videos they may upload."
            )
        upload_id = f"fake-upload-{next(self._ids)}"
        self.sessions[upload_id] = Session(upload_id, size, ctype, resource)
        location = (
            f"{self.url}/upload/youtube/v3/videos"
            f"?uploadType=resumable&upload_id={upload_id}&part=snippet,status"
        )
        return Reply(200, b"", {"Location": location})

    def _invalid(self, resource: Any) -> Reply | None:
        snippet = (resource or {}).get("snippet") or {}
        status = (resource or {}).get("status") or {}
        title = str(snippet.get("title") or "")
        if not title or len(title) > 100 or "<" in title or ">" in title:
            return google_error(
                400, "invalidTitle", "The request metadata specifies an invalid or empty video title."
            )
        description = str(snippet.get("description") or "")
        if len(description.encode()) > 5000 or "<" in description or ">" in description:
            return google_error(
                400, "invalidDescription", "The request metadata specifies an invalid video description."
            )
        if _tags_length(list(snippet.get("tags") or [])) > 500:
            return google_error(400, "invalidTags", "The request metadata specifies invalid video keywords.")
        if not str(snippet.get("categoryId", "22")).isdigit():
            return google_error(
                400, "invalidCategoryId", "The snippet.categoryId property specifies an invalid category ID."
            )
        if status.get("privacyStatus", "private") not in ("private", "public", "unlisted"):
            return google_error(403, "forbiddenPrivacySetting", "The video's privacy setting is invalid.")
        if status.get("publishAt") is not None:
            try:
                dt.datetime.fromisoformat(str(status["publishAt"]).replace("Z", "+00:00"))
            except ValueError:
                return google_error(
                    400,
                    "invalidPublishAt",
                    "The request metadata specifies an invalid scheduled publishing time.",
                )
            if status.get("privacyStatus", "private") != "private":
                return google_error(400, "invalidPublishAt", "publishAt can only be set for private videos.")
        return None

    @staticmethod
    def _range(req: Request) -> tuple[int, int, int] | None:
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", req.headers.get("Content-Range", "").strip())
        return (int(m[1]), int(m[2]), int(m[3])) if m else None

    def _progress(self, session: Session) -> Reply:
        headers = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
        return Reply(308, b"", headers)

    def _put(self, req: Request, m: Any) -> Reply:
        session = self._session_of(req.query)
        if session is None:
            return Reply(404, "Not Found")
        with self.lock:
            fault = (
                self.put_faults.pop(0)
                if self.put_faults and "*/" not in req.headers.get("Content-Range", "")
                else {}
            )
        if "expire_token" in fault:
            self.expire_access()
        if self.bearer(req) is None:
            return self._unauthorized()
        if session.expired or "gone" in fault:
            session.expired = True
            return Reply(404, "Not Found")
        if req.headers.get("Content-Range", "").strip() == f"bytes */{session.size}":
            return self._final(session) if session.video_id else self._progress(session)
        if session.video_id:
            return self._final(session)
        if "stall" in fault:
            time.sleep(float(fault["stall"]))
            return Reply(503, {"error": {"code": 503, "message": "Backend Error"}})
        if "status" in fault:
            return Reply(
                int(fault["status"]), {"error": {"code": int(fault["status"]), "message": "Backend Error"}}
            )
        span = self._range(req) or (0, len(req.body) - 1, session.size)
        if span[2] != session.size or span[0] != len(session.data) or span[1] - span[0] + 1 != len(req.body):
            return google_error(
                400,
                "badContentRange",
                f"Content-Range {span} does not follow {len(session.data)} bytes",
                "global",
            )
        final = span[1] == session.size - 1
        keep = req.body if final else req.body[: len(req.body) // BLOCK * BLOCK]
        if "keep" in fault:
            keep = req.body[: int(fault["keep"])]
            final = False
        session.data += keep
        if len(session.data) == session.size:
            if self.upload_limit == "final":
                return google_error(
                    400, "uploadLimitExceeded", "The user has exceeded the number of videos they may upload."
                )
            self._complete(session)
            if "hang" in fault:
                time.sleep(float(fault["hang"]))
            return self._final(session)
        if "hang" in fault:
            time.sleep(float(fault["hang"]))
        return self._progress(session)

    def _complete(self, session: Session) -> None:
        video_id = f"vid{next(self._ids):08d}"
        snippet = dict(session.resource.get("snippet") or {})
        status = {
            "privacyStatus": "private",
            **(session.resource.get("status") or {}),
            "uploadStatus": "uploaded",
            "license": "youtube",
            "embeddable": True,
            "publicStatsViewable": True,
        }
        if self.unverified == "insert":
            status["privacyStatus"] = "private"
        self.videos[video_id] = {
            "kind": "youtube#video",
            "etag": f"etag-{video_id}",
            "id": video_id,
            "snippet": {
                **snippet,
                "publishedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "channelId": CHANNEL,
                "channelTitle": "Fake Channel",
                "liveBroadcastContent": "none",
            },
            "status": status,
        }
        self.uploaded[video_id] = bytes(session.data)
        session.video_id = video_id

    def _final(self, session: Session) -> Reply:
        assert session.video_id is not None
        return Reply(self.final_status, self.videos[session.video_id])

    def _listed(self, video: dict[str, Any]) -> dict[str, Any]:
        out = json.loads(json.dumps(video))
        out["status"]["uploadStatus"] = "processed"
        if self.unverified == "list":
            out["status"]["privacyStatus"] = "private"
        out["processingDetails"] = {"processingStatus": "succeeded"}
        return out

    def _videos(self, req: Request, m: Any) -> Reply:
        if self.bearer(req) is None:
            return self._unauthorized()
        ids = (req.q("id") or "").split(",")
        return Reply(
            200,
            {
                "kind": "youtube#videoListResponse",
                "items": [self._listed(self.videos[i]) for i in ids if i in self.videos],
            },
        )

    def _channels(self, req: Request, m: Any) -> Reply:
        if self.bearer(req) is None:
            return self._unauthorized()
        return Reply(
            200,
            {
                "items": [
                    {
                        "id": CHANNEL,
                        "snippet": {"title": "Fake Channel"},
                        "contentDetails": {"relatedPlaylists": {"uploads": UPLOADS}},
                    }
                ]
            },
        )

    def _playlist(self, req: Request, m: Any) -> Reply:
        if self.bearer(req) is None:
            return self._unauthorized()
        if req.q("playlistId") != UPLOADS:
            return google_error(404, "playlistNotFound", "The playlist cannot be found.")
        items = [
            {
                "snippet": {
                    "title": v["snippet"]["title"],
                    "resourceId": {"kind": "youtube#video", "videoId": i},
                }
            }
            for i, v in reversed(list(self.videos.items()))
        ]
        return Reply(200, {"items": items[: int(req.q("maxResults") or 5)]})


_shared: list[FakeYouTube] = []

#: Retry waits a hundredth of their length: the tests of retries stay fast.
FAST_ENV = {"FENTA_BACKOFF_SCALE": "0.001"}


@pytest.fixture
def youtube_fake(fenta_home, monkeypatch):
    """The session's fake Google OAuth + YouTube (state reset), with fenta pointed at it and an account in
    the environment (FENTA_YOUTUBE_CLIENT_ID, ..._SECRET, ..._REFRESH_TOKEN)."""
    if not _shared:
        _shared.append(FakeYouTube().start())
    fake = _shared[0]
    fake.reset()
    for k, v in {**fake.env(), **FAST_ENV}.items():
        monkeypatch.setenv(k, v)
    yield fake
    fake.reset()


if __name__ == "__main__":  # by hand
    fake = FakeYouTube().start()
    fake.serve_by_hand(fake.env())
