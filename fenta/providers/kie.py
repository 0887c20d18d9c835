"""KIE.ai client: create generation tasks, read their status, upload inputs, read the credit balance.

KIE answers HTTP 200 with the real outcome in the body (`{"code": 402, "msg": ...}`), so every JSON call
checks `code` and maps it onto the same typed errors and retry rules as HTTP statuses. Five API families
(the unified Market API, 4o image, Flux Kontext, Veo, Runway) spell their task state differently; all of
them are mapped onto one `TaskStatus` with states pending | running | succeeded | failed.

Creating a task costs money, so create requests are never retried when they may have reached KIE
(only connection failures, 429 and body codes that say "not accepted" are retried).

Settings (`fenta.config.Settings`): `KIE_API_KEY`; `FENTA_KIE_URL` (API host); `FENTA_KIE_UPLOAD_URL`
(`kie_upload_url`: file-upload host, default kieai.redpandaai.co, or the API host when FENTA_KIE_URL points
elsewhere, e.g. at a proxy or a fake); `FENTA_KIE_TIME_SCALE` (`kie_time_scale`) multiplies poll intervals
and retry waits (tests only; default 1).
"""

from __future__ import annotations

import asyncio
import collections
import json
import mimetypes
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..config import Settings
from ..errors import AuthError, CreditsError, OutcomeUnknownError, ProviderError, RateLimitError
from ..pricing import KieModel
from ..retry import Retry, parse_retry_after, retryable_status
from ._http import ProviderClient

__all__ = [
    "KieClient",
    "TaskStatus",
    "OutcomeUnknownError",
    "SlidingWindowLimiter",
    "FAMILY_PATHS",
    "build_request",
    "parse_status",
    "parse_callback",
    "time_scale",
]

#: family -> (create path, status path)
FAMILY_PATHS: dict[str, tuple[str, str]] = {
    "market": ("/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo"),
    "4o-image": ("/api/v1/gpt4o-image/generate", "/api/v1/gpt4o-image/record-info"),
    "flux-kontext": ("/api/v1/flux/kontext/generate", "/api/v1/flux/kontext/record-info"),
    "veo": ("/api/v1/veo/generate", "/api/v1/veo/record-info"),
    "runway": ("/api/v1/runway/generate", "/api/v1/runway/record-detail"),
}

_DEFAULT_API = "https://api.kie.ai"
_DEFAULT_UPLOAD = "https://kieai.redpandaai.co"

# KIE's own body codes that mean "not accepted, try again later" (nothing was charged): 455 service
# unavailable (maintenance), 550 queue full. Body codes that mirror an HTTP status follow the shared
# retry policy's statuses (`fenta.retry.retryable_status`).
_BUSY_CODES = frozenset({455, 550})


def time_scale(settings: Settings | None = None) -> float:
    """Factor applied to poll intervals and retry waits (`settings.kie_time_scale`, FENTA_KIE_TIME_SCALE;
    tests make it small). Without `settings`, the process's settings are read."""
    return (settings if settings is not None else Settings.from_env()).kie_time_scale


@dataclass
class TaskStatus:
    """One task's state, the same for every family."""

    task_id: str
    state: str  # pending | running | succeeded | failed
    urls: list[str] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    credits: float | None = None  # credits KIE says it charged, when it says so

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")


class SlidingWindowLimiter:
    """At most `max_calls` acquisitions in any `period` seconds (KIE: 20 new tasks per 10 s)."""

    def __init__(self, max_calls: int, period: float) -> None:
        self.max_calls = max_calls
        self.period = period
        self._times: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.period:
                    self._times.popleft()
                if len(self._times) < self.max_calls:
                    self._times.append(now)
                    return
                await asyncio.sleep(self._times[0] + self.period - now)


# ---------------------------------------------------------------------------------- requests


def build_request(
    model: KieModel,
    *,
    prompt: str,
    aspect_ratio: str | None = None,
    duration: int | None = None,
    resolution: str | None = None,
    image_urls: list[str] | None = None,
    callback_url: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The create path and JSON body for one generation with `model`."""
    images = list(image_urls or [])
    fam = model.family
    body: dict[str, Any]
    if fam == "market":
        inp: dict[str, Any] = {"prompt": prompt}
        if model.id == "google/nano-banana":
            inp.update(output_format="png")
            if aspect_ratio:
                inp["image_size"] = aspect_ratio
        elif aspect_ratio:
            inp["aspect_ratio"] = aspect_ratio
        if model.kind == "video":
            inp["sound"] = False
            inp["duration"] = str(duration or (model.durations[0] if model.durations else 5))
        if resolution:
            inp["resolution"] = resolution
        if images:
            inp["image_urls"] = images
        body = {"model": model.id, "input": inp}
    elif fam == "4o-image":
        body = {"prompt": prompt, "size": aspect_ratio or "1:1", "nVariants": 1}
        if images:
            body["filesUrl"] = images
    elif fam == "flux-kontext":
        body = {"prompt": prompt, "aspectRatio": aspect_ratio or "16:9", "model": model.id, "outputFormat": "png"}
        if images:
            body["inputImage"] = images[0]
    elif fam == "veo":
        body = {"prompt": prompt, "model": model.id, "aspect_ratio": aspect_ratio or "16:9"}
        if images:
            body["imageUrls"] = images[:2]
    elif fam == "runway":
        body = {
            "prompt": prompt,
            "duration": int(duration or (model.durations[0] if model.durations else 5)),
            "quality": resolution or model.default_resolution or "720p",
            "aspectRatio": aspect_ratio or "16:9",
            "waterMark": "",
        }
        if images:
            body["imageUrl"] = images[0]
    else:  # pragma: no cover - the price table only names known families
        raise ProviderError(f"KIE.ai model family '{fam}' is not supported", provider="kie")
    if callback_url:
        body["callBackUrl"] = callback_url
    return FAMILY_PATHS[fam][0], body


# ---------------------------------------------------------------------------------- statuses

_MARKET_STATES = {"waiting": "pending", "queuing": "pending", "generating": "running", "success": "succeeded", "fail": "failed"}
_RUNWAY_STATES = {"wait": "pending", "queueing": "pending", "generating": "running", "success": "succeeded", "fail": "failed"}
_4O_STATES = {"GENERATING": "running", "SUCCESS": "succeeded", "CREATE_TASK_FAILED": "failed", "GENERATE_FAILED": "failed"}
_FLAG_STATES = {0: "running", 1: "succeeded", 2: "failed", 3: "failed"}


def _json_maybe(value: Any) -> Any:
    """Fields documented as arrays sometimes arrive as JSON strings: accept both."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _url_list(value: Any) -> list[str]:
    value = _json_maybe(value)
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return []


def _str_or_none(v: Any) -> str | None:
    return None if v in (None, "") else str(v)


def parse_status(family: str, data: dict[str, Any], task_id: str = "") -> TaskStatus:
    """Map one family's status `data` onto a `TaskStatus`."""
    data = data or {}
    tid = str(data.get("taskId") or data.get("task_id") or task_id)
    if family == "market":
        state = _MARKET_STATES.get(str(data.get("state") or "").lower(), "pending")
        result = _json_maybe(data.get("resultJson")) or {}
        urls = _url_list(result.get("resultUrls")) if isinstance(result, dict) else []
        credits = data.get("creditsConsumed")
        return TaskStatus(tid, state, urls, _str_or_none(data.get("failMsg")), _str_or_none(data.get("failCode")), float(credits) if isinstance(credits, (int, float)) else None)
    if family == "4o-image":
        status = str(data.get("status") or "")
        state = _4O_STATES.get(status) or _FLAG_STATES.get(data.get("successFlag"), "pending")  # type: ignore[arg-type]
        resp = data.get("response") or {}
        urls = _url_list(resp.get("resultUrls") or resp.get("result_urls"))
        return TaskStatus(tid, state, urls, _str_or_none(data.get("errorMessage")), _str_or_none(data.get("errorCode")))
    if family in ("flux-kontext", "veo"):
        state = _FLAG_STATES.get(_int(data.get("successFlag")), "pending")
        resp = data.get("response") or {}
        urls = _url_list(resp.get("resultImageUrl")) if family == "flux-kontext" else _url_list(resp.get("resultUrls"))
        return TaskStatus(tid, state, urls, _str_or_none(data.get("errorMessage")), _str_or_none(data.get("errorCode")))
    if family == "runway":
        state = _RUNWAY_STATES.get(str(data.get("state") or "").lower(), "pending")
        info = data.get("videoInfo") or {}
        return TaskStatus(tid, state, _url_list(info.get("videoUrl")), _str_or_none(data.get("failMsg")), _str_or_none(data.get("failCode")))
    raise ProviderError(f"KIE.ai model family '{family}' is not supported", provider="kie")


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def parse_callback(family: str, payload: dict[str, Any]) -> TaskStatus:
    """Map a callback body (`{code, msg, data}`) of one family onto a `TaskStatus`."""
    code = _int(payload.get("code"))
    msg = str(payload.get("msg") or payload.get("message") or "")
    data = payload.get("data") or {}
    tid = str(data.get("taskId") or data.get("task_id") or "")
    if family == "market":
        st = parse_status("market", data, tid)
        if code not in (None, 200) and st.state != "failed":
            st.state, st.error = "failed", st.error or msg
        return st
    if code not in (None, 200):
        return TaskStatus(tid, "failed", [], msg or "generation failed", str(code))
    info = data.get("info") or {}
    if family == "4o-image":
        urls = _url_list(info.get("result_urls") or info.get("resultUrls"))
    elif family == "flux-kontext":
        urls = _url_list(info.get("resultImageUrl"))
    elif family == "veo":
        urls = _url_list(info.get("resultUrls") or info.get("result_urls"))
    elif family == "runway":
        urls = _url_list(data.get("video_url") or data.get("videoUrl"))
    else:
        urls = []
    return TaskStatus(tid, "succeeded" if urls else "failed", urls, None if urls else (msg or "callback carried no result"))


# ---------------------------------------------------------------------------------- client


class KieClient(ProviderClient):
    """KIE.ai: generation tasks, statuses, uploads and the credit balance.

    Attributes:
        create_limiter: Shared by every create request of the run (20 per 10 s per account).
        poll_limiter: Shared by status queries (about 10 per second per key).
    """

    name = "kie"
    title = "KIE.ai"

    def __init__(self, settings: Settings, **kw: Any) -> None:
        kw.setdefault("backoff", 1.0 * time_scale(settings))
        super().__init__(settings, **kw)
        self.create_limiter = SlidingWindowLimiter(20, 10.0)
        self.poll_limiter = SlidingWindowLimiter(10, 1.0)
        if settings.kie_upload_url:
            self.upload_url = settings.kie_upload_url
        elif self.base_url and self.base_url != _DEFAULT_API:
            self.upload_url = self.base_url  # a proxy or a fake serves both
        else:
            self.upload_url = _DEFAULT_UPLOAD

    def _body_error(self, code: int, msg: str, status: int) -> ProviderError:
        msg = self._safe(msg or "no message")
        if code == 401:
            return AuthError(f"{self.title} refused the key ({msg}); check {self.key_var}", provider=self.name, status=code)
        if code == 402:
            return CreditsError(f"{self.title} account is out of credits ({msg}); top up at kie.ai and re-run", provider=self.name, status=code)
        if code == 429:
            return RateLimitError(f"{self.title} rate limit reached (20 new tasks per 10 s); try again shortly", provider=self.name, status=code)
        if code in _BUSY_CODES or retryable_status(code):
            return ProviderError(f"{self.title} is unavailable (code {code}: {msg}); try again later", provider=self.name, status=code, retryable=True)
        return ProviderError(f"{self.title} rejected the request (code {code}: {msg})", provider=self.name, status=code)

    async def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request that must not be repeated once it may have arrived (it costs money).

        Connection failures (nothing was sent) and HTTP 429 (KIE does not queue it) are retried.
        """
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}

        async def attempt(n: int) -> httpx.Response:
            try:
                resp = await self._client.request(method, path, headers=headers, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                raise Retry(ProviderError(f"{self.title} could not be reached ({type(e).__name__})", provider=self.name, retryable=True)) from None
            except httpx.TransportError as e:
                raise OutcomeUnknownError(
                    f"{self.title} did not answer a create request ({type(e).__name__}); it was not repeated, so that a task is never paid twice",
                    provider=self.name,
                    retryable=True,
                ) from None
            self.last_headers = dict(resp.headers)
            if resp.status_code < 400:
                return resp
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if retryable_status(resp.status_code, retry_after=retry_after, idempotent=False):
                await resp.aread()
                raise Retry(self._error(resp, retry_after), retry_after)
            raise self._error(resp, retry_after)

        return await self.retry.run(attempt)

    async def call(self, method: str, path: str, *, paid: bool = False, **kwargs: Any) -> Any:
        """One JSON call; returns the envelope's `data` or raises the typed error its body `code` means."""

        async def attempt(n: int) -> Any:
            resp = await (self._send_once if paid else self.request)(method, path, **kwargs)
            payload = self._json(resp)
            if not isinstance(payload, dict):
                raise ProviderError(f"{self.title} sent an unexpected response", provider=self.name, retryable=True)
            code = _int(payload.get("code"))
            if code in (None, 200):
                return payload.get("data")
            err = self._body_error(code, str(payload.get("msg") or payload.get("message") or ""), resp.status_code)
            if err.retryable or isinstance(err, RateLimitError):
                raise Retry(err)
            raise err

        return await self.retry.run(attempt)

    async def create_task(self, path: str, body: dict[str, Any]) -> str:
        """Submit one generation (paid) and return its task id. Waits for the account's rate window."""
        await self.create_limiter.acquire()
        data = await self.call("POST", path, json=body, paid=True)
        task_id = (data.get("taskId") or data.get("task_id")) if isinstance(data, dict) else None
        if not task_id:
            raise ProviderError(f"{self.title} accepted the task but sent no taskId", provider=self.name)
        return str(task_id)

    async def task_status(self, family: str, task_id: str) -> TaskStatus:
        await self.poll_limiter.acquire()
        data = await self.call("GET", FAMILY_PATHS[family][1], params={"taskId": task_id})
        return parse_status(family, data if isinstance(data, dict) else {}, task_id)

    async def fresh_download_url(self, url: str) -> str:
        """A 20-minute download link for a KIE-hosted result URL (for links that expired)."""
        data = await self.call("POST", "/api/v1/common/download-url", json={"url": url})
        if not isinstance(data, str) or not data:
            raise ProviderError(f"{self.title} sent no download link", provider=self.name)
        return data

    async def credits(self) -> float:
        """The account's remaining credits."""
        data = await self.call("GET", "/api/v1/chat/credit")
        try:
            return float(data)
        except (TypeError, ValueError):
            raise ProviderError(f"{self.title} sent a credit balance that is not a number", provider=self.name) from None

    async def upload(self, path: str | Path, *, upload_path: str = "fenta/inputs", file_name: str | None = None) -> str:
        """Upload a local file (free, kept about 24 h) and return the public URL generation requests accept."""
        p = Path(path)
        name = file_name or p.name
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"{self.upload_url}/api/file-stream-upload"

        async def attempt(n: int) -> str:
            with open(p, "rb") as fh:
                resp = await self.request("POST", url, files={"file": (name, fh, mime)}, data={"uploadPath": upload_path, "fileName": name})
            payload = self._json(resp)
            code = _int(payload.get("code")) if isinstance(payload, dict) else None
            if isinstance(payload, dict) and code in (None, 200) and payload.get("success", True) is not False:
                data = payload.get("data") or {}
                link = data.get("downloadUrl") or data.get("fileUrl")
                if link:
                    return str(link)
                raise ProviderError(f"{self.title} upload answered without a file URL", provider=self.name)
            err = self._body_error(code or 500, str(payload.get("msg") if isinstance(payload, dict) else ""), resp.status_code)
            if err.retryable:
                raise Retry(err)
            raise err

        return await self.retry.run(attempt)
