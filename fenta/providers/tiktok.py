"""TikTok's Content Posting API: Direct Post of a local file (publishing-contracts.md §2.4-2.8).

    info = await tt.creator_info()                          # required before every post (fresh)
    publish_id, upload_url = await tt.init(post_info, plan) # FILE_UPLOAD; the URL lives one hour
    done = await tt.upload(publish_id, upload_url, path, plan, 0)   # PUT chunks: 206 ..., 201 at the end
    state = await tt.status(publish_id)                     # PROCESSING_UPLOAD -> PUBLISH_COMPLETE | FAILED

Answers are judged by the body's `error.code` ("ok" or not), never by the HTTP status alone: TikTok
sends `spam_risk_*` with HTTP 200 on purpose. A refused access token is renewed once and the call made
again; 5xx and network trouble wait (backoff from `fenta.retry`) and try again; a rate limit (429
`rate_limit_exceeded`, a one-minute sliding window) waits for the window, twice at most, then fails
with one line naming the limit. Posting caps (`spam_risk_too_many_posts`, `reached_active_user_cap`)
are `PublishLimitError`, never retried.

Chunks (§2.6) follow a plan valid whether "MB" means 10^6 or 2^20 bytes: one chunk up to 64,000,000
bytes, else chunks of 10,000,000 with the remainder in the last. The upload URL takes no
Authorization header; after a 5xx the same chunk is sent again; after a dropped connection or a 416
the status's `uploaded_bytes` says where to go on; a 403 (expired URL) or 404 ends the upload (the
caller checks the status and starts a new post). Hosts: `FENTA_TIKTOK_URL` replaces open.tiktokapis.com.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

from ..config import Settings
from ..errors import AuthError, ProviderError, PublishLimitError
from ..retry import RetryPolicy
from .accounts import service_url
from .tokens import Credentials

__all__ = [
    "API_URL",
    "SINGLE_MAX",
    "CHUNK",
    "ChunkPlan",
    "chunk_plan",
    "PublishState",
    "TikTokClient",
    "UNAUDITED",
]

API_URL = "https://open.tiktokapis.com/v2/post/publish"
#: The largest file sent as one chunk: 64 MB in both readings' intersection (64,000,000 < 64 MiB).
SINGLE_MAX = 64_000_000
#: Chunk size of larger files: at least 5 MiB and at most 64 MB in both readings.
CHUNK = 10_000_000
#: Requests a minute per access token, by endpoint (§2.8), for the line a rate limit ends with.
RATE_LIMITS = {"creator_info/query/": 20, "video/init/": 6, "status/fetch/": 30}
#: Waits for a rate limit's one-minute window before giving up.
RATE_WAITS = 2
UNAUDITED = (
    "TikTok lets apps it has not audited post only privately (SELF_ONLY) from private accounts "
    "(unaudited_client_can_only_post_to_private_accounts): set privacy: SELF_ONLY and make the account "
    "private, or request the audit in the TikTok developer portal"
)
_DAY = 86400


@dataclass(frozen=True)
class ChunkPlan:
    """How a file of `size` bytes goes up: `count` chunks of `chunk_size`, the last taking the rest."""

    size: int
    chunk_size: int
    count: int

    def source_info(self) -> dict[str, Any]:
        return {
            "source": "FILE_UPLOAD",
            "video_size": self.size,
            "chunk_size": self.chunk_size,
            "total_chunk_count": self.count,
        }

    @property
    def last_start(self) -> int:
        return (self.count - 1) * self.chunk_size

    def span(self, start: int) -> tuple[int, int]:
        """(first byte, one past the last) of the chunk starting at `start`."""
        return start, self.size if start >= self.last_start else start + self.chunk_size

    def resume_at(self, uploaded: int) -> int:
        """The chunk to send next after the status said `uploaded_bytes` (a count or a last index: TikTok
        does not say which; chunks land whole, so either reading names one boundary)."""
        if uploaded >= self.size - 1 and uploaded > 0:
            return self.size
        for start in (uploaded, uploaded + 1):
            if start % self.chunk_size == 0 and start <= self.last_start:
                return start
        return min(uploaded // self.chunk_size * self.chunk_size, self.last_start)


def chunk_plan(size: int) -> ChunkPlan:
    """The chunk plan of a file (§2.6): whole up to `SINGLE_MAX`, else chunks of `CHUNK`."""
    if size <= SINGLE_MAX:
        return ChunkPlan(size, size, 1)
    return ChunkPlan(size, CHUNK, size // CHUNK)


@dataclass
class PublishState:
    """What `status/fetch` says about a post."""

    status: str
    fail_reason: str = ""
    post_ids: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0


def _envelope(resp: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    """(error.code, error.message, data) of a Content Posting answer; a body that is not the envelope
    reads as code "" (judged by its HTTP status)."""
    try:
        body = resp.json()
    except ValueError:
        return "", (resp.text or "").strip()[:200], {}
    if not isinstance(body, dict):
        return "", "", {}
    error = cast("dict[str, Any]", body.get("error")) if isinstance(body.get("error"), dict) else {}
    data = cast("dict[str, Any]", body.get("data")) if isinstance(body.get("data"), dict) else {}
    return str(error.get("code") or ""), str(error.get("message") or "")[:300], data


def _in_a_day() -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=_DAY)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


class TikTokClient:
    """The Content Posting calls a post makes, for one account (`Credentials`)."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.policy = RetryPolicy(attempts=6, base=1.0, cap=60.0, scale=settings.backoff_scale)
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=20.0),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "fenta/0.1"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- errors -----------------------------------------------------------------------------

    def error(self, code: str, message: str, status: int, doing: str) -> ProviderError:
        """The one line an answer that is not "ok" becomes, by its `error.code`."""
        message = self.settings.redact(message)
        if code == "spam_risk_too_many_posts":
            return PublishLimitError(
                "TikTok's daily cap on posts through apps is reached for this account "
                "(spam_risk_too_many_posts); it lifts within 24 hours (or post from the TikTok app); "
                "nothing was posted",
                provider="tiktok",
                limit=code,
                resets_at=_in_a_day(),
                status=status,
            )
        if code == "reached_active_user_cap":
            return PublishLimitError(
                "this TikTok app reached its daily cap of accounts posting through it "
                "(reached_active_user_cap; 5 a day for an app TikTok has not audited); try again "
                "tomorrow; nothing was posted",
                provider="tiktok",
                limit=code,
                resets_at=_in_a_day(),
                status=status,
            )
        if code.startswith("spam_risk"):
            return ProviderError(
                f"TikTok does not let this account post through apps now ({code}); nothing was posted",
                provider="tiktok",
                status=status,
            )
        if code == "unaudited_client_can_only_post_to_private_accounts":
            return ProviderError(UNAUDITED, provider="tiktok", status=status)
        if code in ("access_token_invalid", "scope_not_authorized", "scope_permission_missed") or (
            status == 401
        ):
            return AuthError(
                f"TikTok refused the account's sign-in while {doing} ({code or status}: {message}); "
                "connect the account again and allow posting videos",
                provider="tiktok",
                status=status,
            )
        retryable = status >= 500 or code == "internal_error"
        return ProviderError(
            f"TikTok refused while {doing} ({code or f'HTTP {status}'}: {message or 'no message'})",
            provider="tiktok",
            status=status,
            retryable=retryable,
        )

    # -- the JSON calls ---------------------------------------------------------------------

    async def call(self, endpoint: str, body: dict[str, Any] | None, doing: str) -> dict[str, Any]:
        """POST `API_URL/endpoint` with the account's token; the `data` of an "ok" answer."""
        url = service_url(self.settings, "tiktok", f"{API_URL}/{endpoint}")
        failures = rate_waits = 0
        renewed = False
        while True:
            headers = {
                "Authorization": f"Bearer {await self.credentials.token()}",
                "Content-Type": "application/json; charset=UTF-8",
            }
            try:
                resp = await self.http.post(url, json=body, headers=headers)
            except httpx.TransportError as e:
                failures += 1
                trouble = ProviderError(
                    f"TikTok could not be reached while {doing} ({type(e).__name__})",
                    provider="tiktok",
                    retryable=True,
                )
                await self.policy.pause(failures, trouble)
                continue
            code, message, data = _envelope(resp)
            if code == "ok" and resp.status_code < 300:
                return data
            if (code == "access_token_invalid" or resp.status_code == 401) and not renewed:
                renewed = True
                await self.credentials.renew()
                continue
            if code == "rate_limit_exceeded" or resp.status_code == 429:
                rate_waits += 1
                per_minute = RATE_LIMITS.get(endpoint)
                if rate_waits > RATE_WAITS:
                    raise PublishLimitError(
                        f"TikTok's rate limit for {endpoint.rstrip('/')} "
                        f"({per_minute or 'a few'} requests a minute per account) was still reached "
                        f"after waiting {RATE_WAITS} minutes (rate_limit_exceeded); try again later",
                        provider="tiktok",
                        limit="rate_limit_exceeded",
                        status=resp.status_code,
                    )
                await asyncio.sleep(60.0 * self.settings.publish_time_scale)  # the sliding window
                continue
            error = self.error(code, message, resp.status_code, doing)
            if error.retryable:
                failures += 1
                await self.policy.pause(failures, error)
                continue
            raise error

    async def creator_info(self) -> dict[str, Any]:
        """The creator's name and what they may post now (privacy options, longest video)."""
        return await self.call("creator_info/query/", None, "asking who the creator is")

    async def init(self, post_info: dict[str, Any], plan: ChunkPlan) -> tuple[str, str]:
        """Start a Direct Post of a file: (publish_id, upload_url). Repeating it after trouble is safe:
        a FILE_UPLOAD post that gets no bytes publishes nothing, and its URL dies within the hour."""
        data = await self.call(
            "video/init/", {"post_info": post_info, "source_info": plan.source_info()}, "starting the post"
        )
        if not data.get("publish_id") or not data.get("upload_url"):
            raise ProviderError(
                "TikTok started the post without a publish id or upload URL",
                provider="tiktok",
                retryable=True,
            )
        return str(data["publish_id"]), str(data["upload_url"])

    async def status(self, publish_id: str) -> PublishState:
        data = await self.call("status/fetch/", {"publish_id": publish_id}, "asking how the post is going")
        ids = data.get("publicaly_available_post_id") or data.get("publicly_available_post_id") or []
        return PublishState(
            status=str(data.get("status") or ""),
            fail_reason=str(data.get("fail_reason") or ""),
            post_ids=[str(i) for i in ids if i],
            uploaded_bytes=int(data.get("uploaded_bytes") or 0),
        )

    # -- the bytes --------------------------------------------------------------------------

    async def _resync(self, publish_id: str, plan: ChunkPlan) -> int:
        state = await self.status(publish_id)
        if state.status in ("PUBLISH_COMPLETE", "FAILED"):
            return plan.size
        return plan.resume_at(state.uploaded_bytes)

    async def upload(
        self,
        publish_id: str,
        upload_url: str,
        path: Path,
        plan: ChunkPlan,
        offset: int,
        *,
        on_progress: Callable[[float], None] = lambda f: None,
    ) -> bool:
        """Send the chunks from `offset` (a chunk's first byte) in order; True when TikTok has them all,
        False when the upload URL is dead (403: expired; 404: unknown): the caller asks the status.

        Raises:
            ProviderError: trouble that outlasted the tries (retryable: the publish id stays good for
                the hour), or a chunk TikTok refuses (400).
        """
        failures = clashes = 0
        while offset < plan.size:
            start, end = plan.span(offset)
            with open(path, "rb") as fh:
                fh.seek(start)
                body = fh.read(end - start)
            headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes {start}-{end - 1}/{plan.size}"}
            try:
                resp = await self.http.put(upload_url, content=body, headers=headers)
            except httpx.TransportError as e:
                failures += 1
                trouble = ProviderError(
                    f"the upload to TikTok broke off ({type(e).__name__})", provider="tiktok", retryable=True
                )
                await self.policy.pause(failures, trouble)
                offset = await self._resync(publish_id, plan)  # did that chunk land?
                continue
            if resp.status_code == 201:
                on_progress(1.0)
                return True
            if resp.status_code == 206:
                failures = 0
                offset = end
                on_progress(offset / plan.size)
                continue
            if resp.status_code in (403, 404):
                return False
            if resp.status_code == 416:  # TikTok has a different idea of where the upload is
                clashes += 1
                if clashes > 3:
                    raise ProviderError(
                        "TikTok keeps refusing the upload's byte ranges (416)",
                        provider="tiktok",
                        retryable=True,
                    )
                offset = await self._resync(publish_id, plan)
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                failures += 1
                trouble = ProviderError(
                    f"TikTok answered HTTP {resp.status_code} to a chunk", provider="tiktok", retryable=True
                )
                await self.policy.pause(failures, trouble)
                continue  # the same chunk again
            raise ProviderError(
                f"TikTok refused a chunk of the video (HTTP {resp.status_code}: "
                f"{self.settings.redact(resp.text[:200])})",
                provider="tiktok",
                status=resp.status_code,
            )
        return True
