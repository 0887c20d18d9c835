"""A fake KIE.ai on 127.0.0.1, following /work/shared/api-contracts.md section 1
(by hand: `python -m tests.fakes.kie`).

Tasks progress as they are polled (waiting -> generating -> success or fail, in each family's own
spelling; Suno PENDING -> TEXT_SUCCESS -> FIRST_SUCCESS -> SUCCESS); results point back at the fake (real
PNG, MP4 and MP3 files made with FFmpeg's lavfi); Veo's extend, 1080p and 4K follow-ups, the credit balance
and file uploads are served; callbacks are sent on request, in each family's shape (Suno in stages).
Faults are switchable:

    fake.body_error(402, "Credits insufficient")         # HTTP 200 + body code (KIE's usual way)
    fake.body_error(500, "busy", http_status=True)        # ...or also the HTTP status
    fake.next_outcomes = ["fail"]                          # the next task fails ("policy": refused on
                                                           #   content, "lyrics": Suno lyrics refused)
    fake.next_outcomes = ["never"]                         # the next task never finishes (until .finish(id))
    fake.hd_processing = 2                                 # Veo 1080p: "1080P is processing" twice first
    fake.uhd_polls, fake.uhd_done = 2, "urls"              # Veo 4K: 422 "processing" twice, then the URLs
                                                           #   ("already": 422 "already generated" instead)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import threading
import time
from typing import Any

import httpx
import pytest

from tests.fakes._server import FakeServer, Reply, Request
from tests.fakes.kie_shapes import FakeTask, callback_body, media, status_data

FAMILY_OF_CREATE = {
    "/api/v1/jobs/createTask": "market",
    "/api/v1/gpt4o-image/generate": "4o-image",
    "/api/v1/flux/kontext/generate": "flux-kontext",
    "/api/v1/veo/generate": "veo",
    "/api/v1/veo/extend": "veo",
    "/api/v1/runway/generate": "runway",
    "/api/v1/generate": "suno",
}
STATUS_PATHS = {
    "/api/v1/jobs/recordInfo": "market",
    "/api/v1/gpt4o-image/record-info": "4o-image",
    "/api/v1/flux/kontext/record-info": "flux-kontext",
    "/api/v1/veo/record-info": "veo",
    "/api/v1/runway/record-detail": "runway",
    "/api/v1/generate/record-info": "suno",
}
HD_PATH = "/api/v1/veo/get-1080p-video"
UHD_PATH = "/api/v1/veo/get-4k-video"
_SUFFIX = {"image": ".png", "audio": ".mp3"}


def _ok(data: Any, msg: str = "success") -> Reply:
    return Reply(200, {"code": 200, "msg": msg, "data": data})


def _code(code: int, msg: str) -> Reply:
    return Reply(200, {"code": code, "msg": msg, "data": None})


class FakeKie(FakeServer):
    """The fake. `polls_to_finish`: status queries a task answers as not done before its outcome."""

    def __init__(
        self, *, polls_to_finish: int = 2, credits: float = 1000.0, webhook_secret: str | None = None
    ) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.reset(polls_to_finish=polls_to_finish, credits=credits, webhook_secret=webhook_secret)
        for path in FAMILY_OF_CREATE:
            self.route("POST", re.escape(path), self._create)
        for path in STATUS_PATHS:
            self.route("GET", re.escape(path), self._status)
        self.route("GET", re.escape(HD_PATH), self._hd)
        self.route("POST", re.escape(UHD_PATH), self._uhd)
        self.route("GET", r"/api/v1/chat/credit", lambda r, m: _ok(self.balance))
        self.route("POST", r"/api/file-stream-upload", self._upload)
        self.route("GET", r"/files/(?P<name>[\w.-]+)", self._file)
        self.route("POST", r"/api/v1/common/download-url", self._download_url)

    def reset(
        self, *, polls_to_finish: int = 2, credits: float = 1000.0, webhook_secret: str | None = None
    ) -> None:
        """Forget tasks, requests and faults (one server serves the whole session)."""
        with self.lock:
            self.polls_to_finish = polls_to_finish
            self.balance = credits
            self.webhook_secret = webhook_secret
            self.tasks: dict[str, FakeTask] = {}
            self.next_outcomes: list[str] = []
            self.credits_per_task = 5.0
            self.uploads: dict[str, bytes] = {}
            self.upload_requests = 0
            self.expire_links = False  # result links answer 404 unless fetched through download-url
            self.veo_urls_as_string = False  # Veo resultUrls as a JSON string (a documented discrepancy)
            self.hd_processing = 2  # "1080P is processing" answers before the 1080p URL (per task)
            self.hd_asks: dict[str, int] = {}
            self.uhd_polls = 2  # 4K: "4k is processing" answers to repeated requests before it is done
            self.uhd_done = (
                "urls"  # once done: "urls" (200 with the URLs) | "already" (422 already generated)
            )
            self.uhd: dict[str, int] = {}  # source task -> requests since the 4K was accepted
            self.uhd_accepted = 0
            self.suno_skip_stages = False  # Suno: PENDING straight to SUCCESS (stages may be skipped)
            self.requests.clear()
            self.faults.clear()

    # -- switches ------------------------------------------------------------------------

    def body_error(
        self,
        code: int,
        msg: str = "error",
        *,
        times: int = 1,
        path_contains: str | None = None,
        http_status: bool = False,
    ) -> None:
        """Answer the next `times` (matching) requests with `{"code": code}` (and that HTTP status if
        asked)."""
        self.fail_next(
            Reply(code if http_status else 200, {"code": code, "msg": msg, "data": None}),
            times=times,
            path_contains=path_contains,
        )

    def finish(self, task_id: str, outcome: str = "success") -> None:
        self.tasks[task_id].forced = outcome

    @property
    def creates(self) -> list[Request]:
        return [r for r in self.requests if r.path in FAMILY_OF_CREATE]

    def creates_to(self, path_part: str) -> list[Request]:
        return [r for r in self.creates if path_part in r.path]

    def polls_of(self, task_id: str) -> list[Request]:
        return [r for r in self.requests if r.path in STATUS_PATHS and r.q("taskId") == task_id]

    def asks_of(self, path: str, task_id: str) -> list[Request]:
        """Requests to `path` (1080p or 4K) about `task_id`."""
        return [
            r
            for r in self.requests
            if r.path == path
            and (
                r.q("taskId") == task_id or (r.method == "POST" and (r.json() or {}).get("taskId") == task_id)
            )
        ]

    # -- handlers ------------------------------------------------------------------------

    def _auth_ok(self, req: Request) -> bool:
        return (
            req.headers.get("Authorization", "").startswith("Bearer ")
            and len(req.headers["Authorization"]) > 7
        )

    def _create(self, req: Request, m: re.Match) -> Reply:
        if not self._auth_ok(req):
            return _code(401, "You do not have access permissions")
        family = FAMILY_OF_CREATE[req.path]
        body = req.json() or {}
        inp = body.get("input") if family == "market" else body
        if family == "market" and not isinstance(body.get("model"), str):
            return _code(422, "model is required")
        if family == "suno" and not body.get("customMode") and not body.get("prompt"):
            return _code(422, "prompt is required in non-custom mode")
        if family == "suno" and body.get("customMode") and not (body.get("style") and body.get("title")):
            return _code(422, "style and title are required in custom mode")
        if family != "suno" and not (inp or {}).get("prompt"):
            return _code(422, "prompt is required")
        parent = None
        if req.path.endswith("/extend"):
            parent = str(body.get("taskId") or "")
            source = self.tasks.get(parent)
            if source is None or source.family != "veo":
                return _code(404, "record is null")
            if self._state(source, advance=False) != "success":
                return _code(422, "record status is not success")
        with self.lock:
            outcome = self.next_outcomes.pop(0) if self.next_outcomes else "success"
            tid = f"task_{family}_{next(self._ids)}"
            self.tasks[tid] = FakeTask(tid, family, body, outcome, parent=parent)
        return _ok({"taskId": tid})

    def _state(self, t: FakeTask, *, advance: bool = True) -> str:
        """waiting | running | first (Suno) | success | fail | policy | lyrics, one step further per poll."""
        if advance:
            t.polls += 1
        if t.forced:
            return t.forced
        if t.family == "suno" and not self.suno_skip_stages:
            stages = ("waiting", "running", "first")  # PENDING, TEXT_SUCCESS, FIRST_SUCCESS
            if t.outcome == "never" or t.polls <= len(stages):
                return stages[min(t.polls, len(stages)) - 1]
            return t.outcome
        if t.polls <= 1:
            return "waiting"
        if t.outcome == "never" or t.polls <= self.polls_to_finish:
            return "running"
        return t.outcome

    def result_urls(self, t: FakeTask) -> list[str]:
        suffix = _SUFFIX.get(t.kind, ".mp4")
        if t.family == "suno":
            return [f"{self.url}/files/{t.task_id}-{n}{suffix}" for n in range(2)]
        return [f"{self.url}/files/{t.task_id}{suffix}"]

    def result_url(self, t: FakeTask) -> str:
        return self.result_urls(t)[0]

    def _status(self, req: Request, m: re.Match) -> Reply:
        family = STATUS_PATHS[req.path]
        tid = req.q("taskId") or ""
        t = self.tasks.get(tid)
        if t is None or t.family != family:
            return _code(404, "Task not found")
        with self.lock:
            state = self._state(t)
            if state == "success" and not t.charged:
                t.charged = True
                self.balance -= self.credits_per_task
        return _ok(self.status_data(t, state))

    def status_data(self, t: FakeTask, state: str) -> dict[str, Any]:
        return status_data(
            t,
            state,
            self.result_url(t),
            self.result_urls(t),
            as_string=self.veo_urls_as_string,
            credits=self.credits_per_task,
        )

    def _finished_veo(self, tid: str) -> tuple[FakeTask | None, Reply | None]:
        t = self.tasks.get(tid)
        if t is None or t.family != "veo":
            return None, _code(404, "record is null")
        if self._state(t, advance=False) != "success":
            return None, _code(422, "record status is not success")
        return t, None

    def _hd(self, req: Request, m: re.Match) -> Reply:
        """GET get-1080p-video: code 400 "processing" `hd_processing` times per task, then the URL."""
        t, refused = self._finished_veo(req.q("taskId") or "")
        if refused:
            return refused
        with self.lock:
            n = self.hd_asks[t.task_id] = self.hd_asks.get(t.task_id, 0) + 1
        if n <= self.hd_processing:
            return _code(
                400, "1080P is processing. It should be ready in 1-2 minutes. Please check back shortly."
            )
        return _ok({"resultUrl": f"{self.url}/files/{t.task_id}-1080p.mp4"})

    def _uhd(self, req: Request, m: re.Match) -> Reply:
        """POST get-4k-video: the first request is accepted (charged), repeats answer 422 until it is done."""
        tid = str((req.json() or {}).get("taskId") or "")
        t, refused = self._finished_veo(tid)
        if refused:
            return refused
        with self.lock:
            if tid not in self.uhd:
                self.uhd[tid] = 0
                self.uhd_accepted += 1
                self.balance -= 120
                return _ok({"taskId": tid, "resultUrls": None, "imageUrls": None})
            self.uhd[tid] += 1
            n = self.uhd[tid]
        if n <= self.uhd_polls:
            return _code(422, "4k is processing, please wait")
        if self.uhd_done == "already":
            return _code(422, "4k video already generated")
        return _ok(
            {
                "taskId": tid,
                "resultUrls": [self.uhd_url(tid)],
                "imageUrls": [f"{self.url}/files/{tid}-4k.png"],
            }
        )

    def uhd_url(self, tid: str) -> str:
        return f"{self.url}/files/{tid}-4k.mp4"

    def callback_body(
        self, task_id: str, outcome: str = "success", stage: str = "complete"
    ) -> dict[str, Any]:
        """The family-specific callback body KIE would POST for this task (Suno: of one `stage`)."""
        t = self.tasks[task_id]
        return callback_body(t, outcome, self.result_url(t), self.result_urls(t), stage)

    def uhd_callback_body(self, task_id: str) -> dict[str, Any]:
        return {
            "code": 200,
            "msg": "4K Video generated successfully.",
            "data": {"taskId": task_id, "info": {"resultUrls": [self.uhd_url(task_id)], "imageUrls": []}},
        }

    def signed_headers(
        self, task_id: str, *, secret: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        key = (secret or self.webhook_secret or "").encode()
        sig = base64.b64encode(hmac.new(key, f"{task_id}.{ts}".encode(), hashlib.sha256).digest()).decode()
        return {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}

    def send_callback(
        self,
        task_id: str,
        outcome: str = "success",
        *,
        stage: str = "complete",
        body: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> httpx.Response:
        """POST the callback to the task's callBackUrl (or `url`), signed when the fake has a secret."""
        t = self.tasks.get(task_id)
        headers = self.signed_headers(task_id) if self.webhook_secret else {}
        target = url or (t.body["callBackUrl"] if t else "")
        return httpx.post(
            target, json=body or self.callback_body(task_id, outcome, stage), headers=headers, timeout=10
        )

    def _upload(self, req: Request, m: re.Match) -> Reply:
        if not self._auth_ok(req):
            return Reply(401, {"success": False, "code": 401, "msg": "unauthorized"})
        name = _multipart_field(req, "fileName") or "upload.bin"
        data = _multipart_part(req, "file") or b""
        with self.lock:
            self.uploads[name] = data
            self.upload_requests += 1
        return Reply(
            200,
            {
                "success": True,
                "code": 200,
                "msg": "File uploaded successfully",
                "data": {
                    "fileName": name,
                    "filePath": f"fenta/inputs/{name}",
                    "downloadUrl": f"{self.url}/files/upload-{name}",
                    "fileSize": len(data),
                    "mimeType": "image/png",
                    "uploadedAt": "2025-01-01T12:00:00.000Z",
                },
            },
        )

    def _download_url(self, req: Request, m: re.Match) -> Reply:
        url = str((req.json() or {}).get("url") or "")
        if not url.startswith(self.url + "/files/"):
            return _code(422, "not a KIE file URL")
        return _ok(url + "?sig=fresh")

    def _file(self, req: Request, m: re.Match) -> Reply:
        name = m["name"]
        if self.expire_links and req.q("sig") != "fresh":
            return Reply(404, "link expired")
        if name.startswith("upload-") and name[len("upload-") :] in self.uploads:  # what was uploaded
            return Reply(200, self.uploads[name[len("upload-") :]], headers={"Content-Type": "image/png"})
        number = re.search(r"_(\d+)(?:-(\d))?", name)
        variant = int(number.group(1)) if number else 0
        if name.endswith(".mp3"):
            data = media("audio", int(number.group(2) or 0) if number else 0).read_bytes()
            return Reply(200, data, headers={"Content-Type": "audio/mpeg"})
        if name.endswith(".png"):
            return Reply(200, media("image", variant).read_bytes(), headers={"Content-Type": "image/png"})
        t = self.tasks.get(name.split("-")[0].rsplit(".", 1)[0])
        kind = t.kind if t is not None and t.kind == "video-long" else "video"
        if "-4k" in name or "-1080p" in name:
            variant += 3  # the upscaled video is another file than the clip it was made from
        return Reply(200, media(kind, variant).read_bytes(), headers={"Content-Type": "video/mp4"})


def _multipart_part(req: Request, name: str) -> bytes | None:
    """The bytes of one part of a multipart/form-data body."""
    boundary = re.search(r"boundary=([^;]+)", req.headers.get("Content-Type", ""))
    if not boundary:
        return None
    for part in req.body.split(b"--" + boundary.group(1).strip('"').encode()):
        head, _, data = part.partition(b"\r\n\r\n")
        if re.search(rb'name="' + re.escape(name.encode()) + rb'"', head):
            return data[:-2] if data.endswith(b"\r\n") else data
    return None


def _multipart_field(req: Request, name: str) -> str | None:
    data = _multipart_part(req, name)
    return data.decode() if data is not None else None


_shared: list[FakeKie] = []
_shared_lock = threading.Lock()

#: Env for code under test (also for subprocesses): fast polls and retry waits; defaults stay untouched.
FAST_ENV = {"KIE_API_KEY": "kie-test-key-123", "FENTA_KIE_TIME_SCALE": "0.004", "FENTA_BACKOFF_SCALE": "0.01"}


@pytest.fixture
def fake_kie(fenta_home, monkeypatch):
    """The session's fake KIE.ai (state reset), with FENTA_KIE_URL, a key and fast poll intervals set."""
    with _shared_lock:
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
