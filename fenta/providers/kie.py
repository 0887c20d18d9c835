"""KIE.ai client: create generation tasks, read their status, upload inputs, read the credit balance.

KIE answers HTTP 200 with the real outcome in the body (`{"code": 402, "msg": ...}`), so every JSON call
checks `code` and maps it onto the same typed errors and retry rules as HTTP statuses. The six API
families (Market, 4o image, Flux Kontext, Veo, Runway, Suno) are read onto one `TaskStatus`
(`kie_status`); their request bodies are built in `kie_requests`. Veo's follow-ups (1080p, 4K) have
their own calls here, since KIE answers "not ready yet" with error codes there.

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
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..config import Settings
from ..errors import AuthError, CreditsError, OutcomeUnknownError, ProviderError, RateLimitError
from ..retry import Retry, parse_retry_after, retryable_status
from ._http import ProviderClient
from .kie_requests import (
    FAMILY_PATHS,
    VEO_4K_PATH,
    VEO_1080P_PATH,
    build_request,
    suno_request,
    veo_extend_request,
)
from .kie_status import TaskStatus, _int, _url_list, is_refusal, parse_callback, parse_status

__all__ = [
    "KieClient",
    "TaskStatus",
    "Upscale",
    "OutcomeUnknownError",
    "SlidingWindowLimiter",
    "FAMILY_PATHS",
    "build_request",
    "suno_request",
    "veo_extend_request",
    "parse_status",
    "parse_callback",
    "is_refusal",
    "time_scale",
]

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
class Upscale:
    """What `get-4k-video` answered: "accepted" (being made), "processing" (asked before, not ready),
    "generated" (made earlier; the answer carries no URL), or "done" with the 4K `urls`."""

    state: str
    urls: list[str]
    message: str = ""


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
            return AuthError(
                f"{self.title} refused the key ({msg}); check {self.key_var}", provider=self.name, status=code
            )
        if code == 402:
            return CreditsError(
                f"{self.title} account is out of credits ({msg}); top up at kie.ai and re-run",
                provider=self.name,
                status=code,
            )
        if code == 429:
            return RateLimitError(
                f"{self.title} rate limit reached (20 new tasks per 10 s); try again shortly",
                provider=self.name,
                status=code,
            )
        if code in _BUSY_CODES or retryable_status(code):
            return ProviderError(
                f"{self.title} is unavailable (code {code}: {msg}); try again later",
                provider=self.name,
                status=code,
                retryable=True,
            )
        return ProviderError(
            f"{self.title} rejected the request (code {code}: {msg})", provider=self.name, status=code
        )

    async def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request that must not be repeated once it may have arrived (it costs money).

        Connection failures (nothing was sent) and HTTP 429 (KIE does not queue it) are retried.
        """
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}

        async def attempt(n: int) -> httpx.Response:
            try:
                resp = await self._client.request(method, path, headers=headers, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                raise Retry(
                    ProviderError(
                        f"{self.title} could not be reached ({type(e).__name__})",
                        provider=self.name,
                        retryable=True,
                    )
                ) from None
            except httpx.TransportError as e:
                raise OutcomeUnknownError(
                    f"{self.title} did not answer a create request ({type(e).__name__}); "
                    "it was not repeated, so that a task is never paid twice",
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

    async def envelope(
        self,
        method: str,
        path: str,
        *,
        paid: bool = False,
        answers: frozenset[int] = frozenset(),
        **kwargs: Any,
    ) -> tuple[int, str, Any]:
        """One JSON call; returns (code, msg, data). Body codes in `answers` are answers, not errors
        (Veo's "1080P is processing" is code 400); any other code != 200 raises its typed error."""

        async def attempt(n: int) -> tuple[int, str, Any]:
            resp = await (self._send_once if paid else self.request)(method, path, **kwargs)
            payload = self._json(resp)
            if not isinstance(payload, dict):
                raise ProviderError(
                    f"{self.title} sent an unexpected response", provider=self.name, retryable=True
                )
            code = _int(payload.get("code"))
            msg = str(payload.get("msg") or payload.get("message") or "")
            if code in (None, 200) or code in answers:
                return code or 200, self._safe(msg), payload.get("data")
            err = self._body_error(code, msg, resp.status_code)
            if err.retryable or isinstance(err, RateLimitError):
                raise Retry(err)
            raise err

        return await self.retry.run(attempt)

    async def call(self, method: str, path: str, *, paid: bool = False, **kwargs: Any) -> Any:
        """One JSON call; returns the envelope's `data` or raises the typed error its body `code` means."""
        return (await self.envelope(method, path, paid=paid, **kwargs))[2]

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

    async def veo_1080p(self, task_id: str, index: int = 0) -> str | None:
        """The 1080p URL of a finished Veo video, or None while KIE is still making it (it answers code
        400 "1080P is processing" until then; KIE suggests asking again after a minute or two)."""
        await self.poll_limiter.acquire()
        code, msg, data = await self.envelope(
            "GET", VEO_1080P_PATH, params={"taskId": task_id, "index": index}, answers=frozenset({400})
        )
        if code == 400:
            if "process" in msg.lower() or not msg.strip():
                return None
            raise ProviderError(
                f"{self.title} has no 1080p video for task {task_id} (code 400: {msg})",
                provider=self.name,
                status=400,
            )
        url = (data.get("resultUrl") or data.get("result_url")) if isinstance(data, dict) else data
        if not url:
            return None
        return str(url)

    async def veo_4k(
        self, task_id: str, *, index: int = 0, callback_url: str | None = None, first: bool = False
    ) -> Upscale:
        """Ask for (`first`: paid, sent at most once) or after the 4K version of a finished Veo video.

        KIE answers 200 with `resultUrls` null while it works (with the URLs once done), and code 422
        to repeated requests: "4k is processing" or "already generated". A code 500 answer ("the 4K
        version of this video is unavailable") raises."""
        body: dict[str, Any] = {"taskId": task_id, "index": index}
        if callback_url:
            body["callBackUrl"] = callback_url
        if first:
            await self.create_limiter.acquire()
        else:
            await self.poll_limiter.acquire()
        code, msg, data = await self.envelope(
            "POST", VEO_4K_PATH, json=body, paid=first, answers=frozenset({422})
        )
        if code == 422:
            low = msg.lower()
            if "process" not in low and ("generated" in low or "already" in low):
                return Upscale("generated", [], msg)
            if "process" in low:
                return Upscale("processing", [], msg)
            raise ProviderError(
                f"{self.title} refused the 4K request for task {task_id} (code 422: {msg})",
                provider=self.name,
                status=422,
            )
        found = data if isinstance(data, dict) else {}
        urls = _url_list(found.get("resultUrls") or found.get("result_urls"))
        return Upscale("done" if urls else "accepted", urls, msg)

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
            raise ProviderError(
                f"{self.title} sent a credit balance that is not a number", provider=self.name
            ) from None

    async def upload(
        self, path: str | Path, *, upload_path: str = "fenta/inputs", file_name: str | None = None
    ) -> str:
        """Upload a local file (free, kept about 24 h); the public URL that generation requests accept."""
        p = Path(path)
        name = file_name or p.name
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"{self.upload_url}/api/file-stream-upload"

        async def attempt(n: int) -> str:
            with open(p, "rb") as fh:
                resp = await self.request(
                    "POST",
                    url,
                    files={"file": (name, fh, mime)},
                    data={"uploadPath": upload_path, "fileName": name},
                )
            payload = self._json(resp)
            code = _int(payload.get("code")) if isinstance(payload, dict) else None
            if (
                isinstance(payload, dict)
                and code in (None, 200)
                and payload.get("success", True) is not False
            ):
                data = payload.get("data") or {}
                link = data.get("downloadUrl") or data.get("fileUrl")
                if link:
                    return str(link)
                raise ProviderError(f"{self.title} upload answered without a file URL", provider=self.name)
            err = self._body_error(
                code or 500, str(payload.get("msg") if isinstance(payload, dict) else ""), resp.status_code
            )
            if err.retryable:
                raise Retry(err)
            raise err

        return await self.retry.run(attempt)
