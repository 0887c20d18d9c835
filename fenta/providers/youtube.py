"""YouTube Data API v3: `videos.insert` through the resumable upload protocol (publishing-contracts.md §1.6).

    session = await yt.start(resource, size)          # POST ...?uploadType=resumable -> Location
    video = await yt.send(session, path, size, 0)     # PUT chunks of 256 KiB multiples; 308 + Range
    state = await yt.upload_progress(session, size)  # PUT Content-Range: bytes */SIZE after any trouble

The client never follows redirects and never calls `raise_for_status`: 308 is "Resume Incomplete"
here, its `Range` says what the server kept (none: start again at 0) and a `Location` on it is the new
session. A dropped connection, 5xx, 429 or a short-term rate limit waits (backoff from `fenta.retry`),
asks the session how far it got and goes on from there; an access token refused mid-upload is renewed
once and the same chunk sent to the same session. `quotaExceeded` (403, the project's daily quota) and
`uploadLimitExceeded` (400, the channel's own cap) are never retried: `PublishLimitError` says which
limit and when it resets. Hosts: `FENTA_YOUTUBE_URL` replaces www.googleapis.com.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from ..config import Settings
from ..errors import AuthError, ProviderError, PublishLimitError
from ..retry import RetryPolicy, parse_retry_after
from .accounts import service_url
from .tokens import Credentials

__all__ = ["CHUNK", "YouTubeClient", "Progress", "next_midnight_pacific", "watch_url"]

UPLOAD_URL = "https://www.googleapis.com/upload/youtube/v3/videos"
API_URL = "https://www.googleapis.com/youtube/v3"
#: Every chunk but the last is a multiple of this many bytes.
CHUNK = 256 * 1024
_RETRY_STATUSES = (429, 500, 502, 503, 504)
_RATE_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")
_TAG = re.compile(r"<[^>]+>")


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/shorts/{video_id}"


def next_midnight_pacific(now: dt.datetime | None = None) -> dt.datetime:
    """When YouTube's daily quotas reset: the next midnight in Pacific time, as UTC."""
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        from zoneinfo import ZoneInfo

        pacific: dt.tzinfo = ZoneInfo("America/Los_Angeles")
    except Exception:  # no time zone database here: Pacific standard time is close enough to say when
        pacific = dt.timezone(dt.timedelta(hours=-8))
    local = now.astimezone(pacific)
    midnight = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(dt.timezone.utc)


@dataclass
class Progress:
    """What a session says after a status query: the video (done), the next byte to send, or gone (404)."""

    video: dict[str, Any] | None = None
    offset: int = 0
    gone: bool = False


def _reason(resp: httpx.Response) -> tuple[str, str]:
    """(reason, message) of Google's error envelope (`error.errors[0].reason`), tags stripped."""
    try:
        err = resp.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", (resp.text or "").strip()[:200]
    if not isinstance(err, dict):
        return str(err), ""
    first = (err.get("errors") or [{}])[0] or {}
    return str(first.get("reason") or err.get("status") or ""), _TAG.sub("", str(err.get("message") or ""))[
        :300
    ]


def _trouble(what: str) -> ProviderError:
    """Network or server trouble that outlasted the tries: retryable (the session stays good)."""
    return ProviderError(what, provider="youtube", retryable=True)


def _next_offset(range_header: str | None) -> int:
    """The next byte to send after a 308: the upper end of `Range: bytes=0-N`, plus one (none: 0)."""
    m = re.search(r"(\d+)\s*-\s*(\d+)", range_header or "")
    return int(m.group(2)) + 1 if m else 0


class YouTubeClient:
    """The Data API calls an upload makes, for one account (`Credentials`)."""

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
        #: Waits between tries after trouble (the official sample's 10 tries; equal jitter, doubling).
        self.policy = RetryPolicy(
            attempts=8, base=1.0, cap=60.0, max_retry_after=600.0, scale=settings.backoff_scale
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=20.0),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "fenta/0.1"},
        )
        self.api_units = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- errors -----------------------------------------------------------------------------

    def error(self, resp: httpx.Response, doing: str) -> ProviderError:
        status = resp.status_code
        reason, message = _reason(resp)
        message = self.settings.redact(message)
        if reason == "quotaExceeded":
            reset = next_midnight_pacific()
            when = reset.strftime("%Y-%m-%d %H:%M UTC")
            return PublishLimitError(
                "YouTube's daily upload quota of this Google Cloud project is used up (quotaExceeded); it "
                f"resets at midnight Pacific time, {when}; nothing was posted",
                provider="youtube",
                limit=reason,
                resets_at=reset.isoformat().replace("+00:00", "Z"),
                status=status,
            )
        if reason == "uploadLimitExceeded":
            reset = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=24)
            return PublishLimitError(
                "this channel reached YouTube's own limit on uploads (uploadLimitExceeded); YouTube lifts "
                "it after about 24 hours; nothing was posted",
                provider="youtube",
                limit=reason,
                resets_at=reset.isoformat(timespec="seconds").replace("+00:00", "Z"),
                status=status,
            )
        if status == 401 or reason in ("insufficientPermissions", "forbidden", "authError"):
            return AuthError(
                f"YouTube refused the account's sign-in while {doing} ({reason or status}: {message}); "
                "connect the account again",
                provider="youtube",
                status=status,
            )
        retryable = status in _RETRY_STATUSES or reason in _RATE_REASONS
        kind = "refused the video's details" if status == 400 else f"answered HTTP {status}"
        return ProviderError(
            f"YouTube {kind} while {doing} ({reason or 'no reason'}: {message})",
            provider="youtube",
            status=status,
            retryable=retryable,
        )

    def _retryable(self, resp: httpx.Response) -> bool:
        return resp.status_code in _RETRY_STATUSES or (
            resp.status_code == 403 and _reason(resp)[0] in _RATE_REASONS
        )

    async def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.credentials.token()}"}

    # -- the session ------------------------------------------------------------------------

    async def start(
        self, resource: dict[str, Any], size: int, content_type: str = "video/mp4", notify: bool = True
    ) -> str:
        """Open a resumable session for a video of `size` bytes; its URI (`Location`). Repeating this
        POST after trouble is safe: an unused session creates nothing."""
        url = service_url(self.settings, "youtube", UPLOAD_URL)
        params = {
            "uploadType": "resumable",
            "part": "snippet,status",
            "notifySubscribers": str(notify).lower(),
        }
        failures, renewed = 0, False
        while True:
            headers = {
                **await self._headers(),
                "X-Upload-Content-Length": str(size),
                "X-Upload-Content-Type": content_type,
            }
            try:
                resp = await self.http.post(url, params=params, json=resource, headers=headers)
            except httpx.TransportError as e:
                failures += 1
                await self.policy.pause(
                    failures,
                    _trouble(f"YouTube could not be reached ({type(e).__name__})"),
                )
                continue
            if resp.status_code == 200 and resp.headers.get("Location"):
                return urljoin(url, resp.headers["Location"])
            if resp.status_code == 401 and not renewed:
                renewed = True
                await self.credentials.renew()
                continue
            if self._retryable(resp):
                failures += 1
                await self.policy.pause(
                    failures,
                    self.error(resp, "opening the upload"),
                    parse_retry_after(resp.headers.get("Retry-After")),
                )
                continue
            raise self.error(resp, "opening the upload")

    async def upload_progress(self, session: str, size: int) -> Progress:
        """Ask the session how far it got (`Content-Range: bytes */SIZE`): the final answer again if the
        upload completed, else where to go on."""
        renewed = False
        while True:
            headers = {**await self._headers(), "Content-Range": f"bytes */{size}", "Content-Length": "0"}
            resp = await self.http.put(session, headers=headers)
            if resp.status_code in (200, 201):
                return Progress(video=resp.json())
            if resp.status_code == 308:
                return Progress(offset=_next_offset(resp.headers.get("Range")))
            if resp.status_code in (404, 410):
                return Progress(gone=True)
            if resp.status_code == 401 and not renewed:
                renewed = True
                await self.credentials.renew()
                continue
            if self._retryable(resp):
                raise httpx.TransportError(
                    f"status query answered {resp.status_code}"
                )  # the caller waits, asks again
            raise self.error(resp, "asking how far the upload got")

    async def send(
        self,
        session: str,
        path: Path,
        size: int,
        offset: int,
        *,
        chunk: int = 8 * 1024 * 1024,
        on_progress: Callable[[float], None] = lambda f: None,
        on_session: Callable[[str], Awaitable[None]] | None = None,
    ) -> dict[str, Any] | None:
        """Send the bytes from `offset` in chunks (multiples of 256 KiB but the last); the video resource,
        or None when the session has expired (404: nothing more can go to it).

        Raises:
            ProviderError: retryable after the tries ran out (the session stays good for a resume);
                `AuthError` when a renewed token is refused too; `PublishLimitError` for a limit.
        """
        chunk = max(CHUNK, chunk // CHUNK * CHUNK)
        failures, renewed = 0, False
        while True:
            if offset >= size:  # every byte is there but no final answer came: ask for it
                state = await self.progress(session, size, failures)
                if state.video is not None or state.gone:
                    return state.video
                offset = state.offset
                if offset >= size:
                    failures += 1
                    await self.policy.pause(
                        failures,
                        _trouble("YouTube has every byte but does not finish the upload"),
                    )
                continue
            end = min(offset + chunk, size)
            with open(path, "rb") as fh:
                fh.seek(offset)
                body = fh.read(end - offset)
            headers = {
                **await self._headers(),
                "Content-Type": "video/mp4",
                "Content-Range": f"bytes {offset}-{end - 1}/{size}",
            }
            try:
                resp = await self.http.put(session, content=body, headers=headers)
            except httpx.TransportError as e:
                failures += 1
                await self.policy.pause(
                    failures,
                    _trouble(f"the upload to YouTube broke off ({type(e).__name__})"),
                )
                state = await self.progress(session, size, failures)
                if state.video is not None or state.gone:
                    return state.video
                offset = state.offset
                continue
            if resp.status_code in (200, 201):
                return resp.json()
            if resp.status_code == 308:
                failures, renewed = 0, False
                if resp.headers.get("Location"):  # the session moved: keep the new one for a resume
                    session = urljoin(session, resp.headers["Location"])
                    if on_session is not None:
                        await on_session(session)
                offset = _next_offset(resp.headers.get("Range"))
                on_progress(offset / size)
                continue
            if resp.status_code == 401:
                if renewed:
                    raise self.error(resp, "uploading")
                renewed = True
                await self.credentials.renew()
                continue
            if resp.status_code in (404, 410):
                return None
            if self._retryable(resp):
                failures += 1
                await self.policy.pause(
                    failures,
                    self.error(resp, "uploading"),
                    parse_retry_after(resp.headers.get("Retry-After")),
                )
                state = await self.progress(session, size, failures)
                if state.video is not None or state.gone:
                    return state.video
                offset = state.offset
                continue
            raise self.error(resp, "uploading")

    async def progress(self, session: str, size: int, failures: int = 0) -> Progress:
        """`query`, tried again (with the same waits) while the network or the server is in trouble."""
        while True:
            try:
                return await self.upload_progress(session, size)
            except httpx.TransportError as e:
                failures += 1
                await self.policy.pause(
                    failures,
                    _trouble(f"YouTube could not say how far the upload got ({e})"),
                )

    # -- after the upload -------------------------------------------------------------------

    async def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """A Data API read (1 quota unit), tried again on trouble."""
        url = service_url(self.settings, "youtube", f"{API_URL}/{path}")
        failures, renewed = 0, False
        while True:
            try:
                resp = await self.http.get(url, params=params, headers=await self._headers())
            except httpx.TransportError as e:
                failures += 1
                await self.policy.pause(
                    failures,
                    _trouble(f"YouTube could not be reached ({type(e).__name__})"),
                )
                continue
            self.api_units += 1
            if resp.status_code == 200:
                body = resp.json()
                return body if isinstance(body, dict) else {}
            if resp.status_code == 401 and not renewed:
                renewed = True
                await self.credentials.renew()
                continue
            if self._retryable(resp):
                failures += 1
                await self.policy.pause(failures, self.error(resp, f"reading {path}"))
                continue
            raise self.error(resp, f"reading {path}")

    async def video(self, video_id: str) -> dict[str, Any] | None:
        """The video's status and processing details (`videos.list`), None if YouTube does not show it."""
        items = (await self.get("videos", {"part": "status,processingDetails", "id": video_id})).get(
            "items"
        ) or []
        return items[0] if items else None

    async def find(self, marker: str) -> dict[str, Any] | None:
        """The channel's recent upload tagged `marker`, if any (after an expired session: the upload may
        have completed before the session died). About 3 quota units."""
        channels = (await self.get("channels", {"part": "contentDetails", "mine": "true"})).get("items") or []
        if not channels:
            return None
        uploads = ((channels[0].get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
        if not uploads:
            return None
        items = (
            await self.get("playlistItems", {"part": "snippet", "playlistId": uploads, "maxResults": "50"})
        ).get("items") or []
        ids: list[Any] = [((i.get("snippet") or {}).get("resourceId") or {}).get("videoId") for i in items]
        ids = [i for i in ids if i]
        if not ids:
            return None
        videos = (await self.get("videos", {"part": "snippet,status", "id": ",".join(ids)})).get(
            "items"
        ) or []
        return next((v for v in videos if marker in ((v.get("snippet") or {}).get("tags") or [])), None)
