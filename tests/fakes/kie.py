"""A fake KIE.ai on 127.0.0.1, following /work/shared/api-contracts.md section 1 (by hand: `python -m tests.fakes.kie`).

Tasks progress as they are polled (waiting -> generating -> success or fail, in each family's own
spelling); results point back at the fake (a real PNG and a real MP4 made with FFmpeg's lavfi);
the credit balance and file uploads are served; faults are switchable:

    fake.body_error(402, "Credits insufficient")         # HTTP 200 + body code (KIE's usual way)
    fake.body_error(500, "busy", http_status=True)        # ...or also the HTTP status
    fake.next_outcomes = ["fail"]                          # the next task fails
    fake.next_outcomes = ["never"]                         # the next task never finishes (until .finish(id))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import lavfi
from tests.fakes._server import FakeServer, Reply, Request

_MEDIA_DIR = Path(tempfile.mkdtemp(prefix="fake-kie-media-"))
_media_lock = threading.Lock()

FAMILY_OF_CREATE = {
    "/api/v1/jobs/createTask": "market",
    "/api/v1/gpt4o-image/generate": "4o-image",
    "/api/v1/flux/kontext/generate": "flux-kontext",
    "/api/v1/veo/generate": "veo",
    "/api/v1/runway/generate": "runway",
}
STATUS_PATHS = {
    "/api/v1/jobs/recordInfo": "market",
    "/api/v1/gpt4o-image/record-info": "4o-image",
    "/api/v1/flux/kontext/record-info": "flux-kontext",
    "/api/v1/veo/record-info": "veo",
    "/api/v1/runway/record-detail": "runway",
}


_COLOURS = ["0x3366cc", "0xcc6633", "0x33aa55", "0xaa3399", "0xddbb22", "0x22aaaa"]


def media(kind: str, variant: int = 0) -> Path:
    """A tiny real PNG (image) or 2-second MP4 (video), made once per test session per variant.

    Variants differ in colour, as real generations differ: equal files would be one cache blob.
    """
    colour = _COLOURS[variant % len(_COLOURS)]
    with _media_lock:
        if kind == "image":
            p = _MEDIA_DIR / f"result-{variant % len(_COLOURS)}.png"
            if not p.exists():
                lavfi(p, f"color=c={colour}:s=180x320:d=1,drawgrid=w=30:h=30:c=white", "-frames:v", "1")
        else:
            p = _MEDIA_DIR / f"result-{variant % len(_COLOURS)}.mp4"
            if not p.exists():
                lavfi(p, f"testsrc2=s=180x320:r=15:d=2,colorbalance=rs={0.1 * (variant % 6) - 0.3:.1f}", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast")
        return p


@dataclass
class FakeTask:
    task_id: str
    family: str
    body: dict[str, Any]
    outcome: str  # success | fail | never
    polls: int = 0
    forced: str | None = None  # set by finish()/fail()
    created: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        model = str(self.body.get("model", ""))
        if self.family in ("veo", "runway") or "video" in model:
            return "video"
        return "image"


class FakeKie(FakeServer):
    """The fake. `polls_to_finish`: status queries a task answers as not done before its outcome."""

    def __init__(self, *, polls_to_finish: int = 2, credits: float = 1000.0, webhook_secret: str | None = None) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.reset(polls_to_finish=polls_to_finish, credits=credits, webhook_secret=webhook_secret)
        for path in FAMILY_OF_CREATE:
            self.route("POST", re.escape(path), self._create)
        for path in STATUS_PATHS:
            self.route("GET", re.escape(path), self._status)
        self.route("GET", r"/api/v1/chat/credit", lambda r, m: Reply(200, {"code": 200, "msg": "success", "data": self.balance}))
        self.route("POST", r"/api/file-stream-upload", self._upload)
        self.route("GET", r"/files/(?P<name>[\w.-]+)", self._file)
        self.route("POST", r"/api/v1/common/download-url", self._download_url)

    def reset(self, *, polls_to_finish: int = 2, credits: float = 1000.0, webhook_secret: str | None = None) -> None:
        """Forget tasks, requests and faults (one server serves the whole session)."""
        with self.lock:
            self.polls_to_finish = polls_to_finish
            self.balance = credits
            self.webhook_secret = webhook_secret
            self.tasks: dict[str, FakeTask] = {}
            self.next_outcomes: list[str] = []
            self.credits_per_task = 5.0
            self.uploads: dict[str, bytes] = {}
            self.expire_links = False  # result links answer 404 unless fetched through download-url
            self.requests.clear()
            self.faults.clear()

    # -- switches ------------------------------------------------------------------------

    def body_error(self, code: int, msg: str = "error", *, times: int = 1, path_contains: str | None = None, http_status: bool = False) -> None:
        """Answer the next `times` (matching) requests with `{"code": code}` (and that HTTP status if asked)."""
        self.fail_next(Reply(code if http_status else 200, {"code": code, "msg": msg, "data": None}), times=times, path_contains=path_contains)

    def finish(self, task_id: str, outcome: str = "success") -> None:
        self.tasks[task_id].forced = outcome

    @property
    def creates(self) -> list[Request]:
        return [r for r in self.requests if r.path in FAMILY_OF_CREATE]

    def polls_of(self, task_id: str) -> list[Request]:
        return [r for r in self.requests if r.path in STATUS_PATHS and r.q("taskId") == task_id]

    # -- handlers ------------------------------------------------------------------------

    def _auth_ok(self, req: Request) -> bool:
        return req.headers.get("Authorization", "").startswith("Bearer ") and len(req.headers["Authorization"]) > 7

    def _create(self, req: Request, m: re.Match) -> Reply:
        if not self._auth_ok(req):
            return Reply(200, {"code": 401, "msg": "You do not have access permissions", "data": None})
        family = FAMILY_OF_CREATE[req.path]
        body = req.json() or {}
        if not (body.get("prompt") or (body.get("input") or {}).get("prompt")):
            return Reply(200, {"code": 422, "msg": "prompt is required", "data": None})
        with self.lock:
            outcome = self.next_outcomes.pop(0) if self.next_outcomes else "success"
            tid = f"task_{family}_{next(self._ids)}"
            self.tasks[tid] = FakeTask(tid, family, body, outcome)
        return Reply(200, {"code": 200, "msg": "success", "data": {"taskId": tid}})

    def _state(self, t: FakeTask) -> str:
        """running | success | fail, advancing one step per poll."""
        if t.forced:
            return t.forced
        if t.polls <= 1:
            return "waiting"
        if t.outcome == "never" or t.polls <= self.polls_to_finish:
            return "running"
        return t.outcome

    def result_url(self, t: FakeTask) -> str:
        return f"{self.url}/files/{t.task_id}{'.png' if t.kind == 'image' else '.mp4'}"

    def _status(self, req: Request, m: re.Match) -> Reply:
        family = STATUS_PATHS[req.path]
        tid = req.q("taskId") or ""
        t = self.tasks.get(tid)
        if t is None or t.family != family:
            return Reply(200, {"code": 404, "msg": "Task not found", "data": None})
        with self.lock:
            t.polls += 1
            state = self._state(t)
        data = self.status_data(t, state)
        if state in ("success", "fail") and not getattr(t, "_charged", False):
            t._charged = True  # type: ignore[attr-defined]
            if state == "success":
                self.balance -= self.credits_per_task
        return Reply(200, {"code": 200, "msg": "success", "data": data})

    def status_data(self, t: FakeTask, state: str) -> dict[str, Any]:
        url = self.result_url(t)
        ok, failed = state == "success", state == "fail"
        if t.family == "market":
            return {
                "taskId": t.task_id, "model": t.body.get("model"),
                "state": {"waiting": "waiting", "running": "generating"}.get(state, state),
                "param": json.dumps(t.body),
                "resultJson": json.dumps({"resultUrls": [url]}) if ok else "",
                "failCode": "500" if failed else "", "failMsg": "Internal server error" if failed else "",
                "createTime": int(t.created * 1000), "updateTime": int(time.time() * 1000),
                **({"costTime": 1000, "creditsConsumed": self.credits_per_task} if ok else {}),
            }
        if t.family == "4o-image":
            return {
                "taskId": t.task_id, "paramJson": json.dumps(t.body), "createTime": int(t.created * 1000),
                "response": {"resultUrls": [url]} if ok else None,
                "successFlag": 1 if ok else (2 if failed else 0),
                "status": "SUCCESS" if ok else ("GENERATE_FAILED" if failed else "GENERATING"),
                "errorCode": 400 if failed else None, "errorMessage": "content policy" if failed else "",
                "progress": "1.00" if ok else "0.40",
            }
        if t.family in ("flux-kontext", "veo"):
            resp = {"originImageUrl": url, "resultImageUrl": url} if t.family == "flux-kontext" else {"taskId": t.task_id, "resultUrls": [url], "originUrls": [], "resolution": "720p"}
            return {
                "taskId": t.task_id, "paramJson": json.dumps(t.body), "createTime": "2025-06-06 10:27:40",
                "response": resp if ok else None, "successFlag": 1 if ok else (3 if failed else 0),
                "errorCode": 501 if failed else None, "errorMessage": "generation failed" if failed else "",
            }
        # runway
        return {
            "taskId": t.task_id, "parentTaskId": "", "generateParam": {"prompt": t.body.get("prompt"), "imageUrl": t.body.get("imageUrl", "")},
            "state": {"waiting": "wait", "running": "generating"}.get(state, state), "generateTime": "2024-05-01 10:02:11",
            "videoInfo": {"videoId": "v-1", "taskId": t.task_id, "videoUrl": url, "imageUrl": url} if ok else None,
            "failCode": 400 if failed else None, "failMsg": "moderation" if failed else "", "expireFlag": 0,
        }

    def callback_body(self, task_id: str, outcome: str = "success") -> dict[str, Any]:
        """The family-specific callback body KIE would POST for this task."""
        t = self.tasks[task_id]
        url = self.result_url(t)
        ok = outcome == "success"
        if t.family == "market":
            return {"code": 200 if ok else 501, "msg": "Playground task completed successfully." if ok else "Playground task failed.", "data": self.status_data(t, outcome)}
        if not ok:
            return {"code": 500, "msg": "Internal error", "data": {"taskId": t.task_id, "task_id": t.task_id}}
        if t.family == "4o-image":
            return {"code": 200, "msg": "success", "data": {"taskId": t.task_id, "info": {"result_urls": [url]}}}
        if t.family == "flux-kontext":
            return {"code": 200, "msg": "BFL image generated successfully.", "data": {"taskId": t.task_id, "info": {"originImageUrl": url, "resultImageUrl": url}}}
        if t.family == "veo":
            return {"code": 200, "msg": "Veo3.1 video generated successfully.", "data": {"taskId": t.task_id, "info": {"resultUrls": [url], "resolution": "720p"}, "fallbackFlag": False}}
        return {"code": 200, "msg": "success", "data": {"task_id": t.task_id, "video_id": "v-1", "video_url": url, "image_url": url}}

    def signed_headers(self, task_id: str, *, secret: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        key = (secret or self.webhook_secret or "").encode()
        sig = base64.b64encode(hmac.new(key, f"{task_id}.{ts}".encode(), hashlib.sha256).digest()).decode()
        return {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}

    def send_callback(self, task_id: str, outcome: str = "success") -> httpx.Response:
        """POST the callback to the task's callBackUrl, signed when the fake has a secret."""
        t = self.tasks[task_id]
        headers = self.signed_headers(task_id) if self.webhook_secret else {}
        return httpx.post(t.body["callBackUrl"], json=self.callback_body(task_id, outcome), headers=headers, timeout=10)

    def _upload(self, req: Request, m: re.Match) -> Reply:
        if not self._auth_ok(req):
            return Reply(401, {"success": False, "code": 401, "msg": "unauthorized"})
        name = _multipart_field(req, "fileName") or "upload.bin"
        self.uploads[name] = req.body
        return Reply(200, {"success": True, "code": 200, "msg": "File uploaded successfully", "data": {
            "fileName": name, "filePath": f"fenta/inputs/{name}", "downloadUrl": f"{self.url}/files/upload-{name}",
            "fileSize": len(req.body), "mimeType": "image/png", "uploadedAt": "2025-01-01T12:00:00.000Z"}})

    def _download_url(self, req: Request, m: re.Match) -> Reply:
        url = str((req.json() or {}).get("url") or "")
        if not url.startswith(self.url + "/files/"):
            return Reply(200, {"code": 422, "msg": "not a KIE file URL", "data": None})
        return Reply(200, {"code": 200, "msg": "success", "data": url + "?sig=fresh"})

    def _file(self, req: Request, m: re.Match) -> Reply:
        name = m["name"]
        if self.expire_links and req.q("sig") != "fresh":
            return Reply(404, "link expired")
        kind = "image" if name.endswith(".png") else "video"
        number = re.search(r"_(\d+)\.", name)
        data = media(kind, int(number.group(1)) if number else 0).read_bytes()
        return Reply(200, data, headers={"Content-Type": "image/png" if kind == "image" else "video/mp4"})


def _multipart_field(req: Request, name: str) -> str | None:
    m = re.search(rb'name="' + name.encode() + rb'"\r\n\r\n(.*?)\r\n', req.body, re.S)
    return m.group(1).decode() if m else None


_shared: list[FakeKie] = []

#: Env for code under test (also for subprocesses): fast polls and retry waits; defaults stay untouched.
FAST_ENV = {"KIE_API_KEY": "kie-test-key-123", "FENTA_KIE_TIME_SCALE": "0.004", "FENTA_BACKOFF_SCALE": "0.01"}


@pytest.fixture
def fake_kie(fenta_home, monkeypatch):
    """The session's fake KIE.ai (state reset), with FENTA_KIE_URL, a key and fast poll intervals set."""
    if not _shared:
        _shared.append(FakeKie().start())
    fake = _shared[0]
    fake.reset()
    monkeypatch.setenv("FENTA_KIE_URL", fake.url)
    for k, v in FAST_ENV.items():
        monkeypatch.setenv(k, v)
    yield fake
    fake.reset()


if __name__ == "__main__":  # by hand: python -m tests.fakes.kie
    fake = FakeKie().start()
    fake.serve_by_hand({"FENTA_KIE_URL": fake.url, "KIE_API_KEY": "fake-kie-key"})
