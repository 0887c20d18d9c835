"""Instagram Reels through the Graph API's content publishing (publishing-contracts.md §3.2-3.8).

    used, total = await ig.publishing_limit()        # live: posts in the last 24 hours, and the cap
    container = await ig.create(fields)              # REELS: resumable (a local file) or video_url
    await ig.rupload(container, path, size, 0)       # the bytes, from an offset (resumable only)
    state = await ig.container(container_id)         # IN_PROGRESS -> FINISHED | ERROR | EXPIRED; PUBLISHED
    media_id = await ig.publish(container_id)        # media_publish: the cap is enforced here
    permalink = await ig.permalink(media_id)

Errors are read from the Graph envelope's `code` and `error_subcode`, not the HTTP status (Meta answers
400 to nearly all). A refused token (190) is renewed once; throttling (4, 17, 32, 613), transient
errors (1, 2, `is_transient`) and 5xx wait and try again, but only for requests that are safe to repeat:
`media_publish` is never repeated blindly (`OutcomeUnknownError`: the caller asks the container, which
says PUBLISHED when the post was made). The publishing cap (9 / 2207042) is `PublishLimitError`.
Hosts: `FENTA_INSTAGRAM_URL` replaces graph.facebook.com and graph.instagram.com;
`FENTA_INSTAGRAM_UPLOAD_URL` replaces rupload.facebook.com in the upload address Meta gives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..config import Settings
from ..errors import AuthError, OutcomeUnknownError, ProviderError, PublishLimitError
from ..retry import RetryPolicy
from .accounts import service_url
from .instagram_auth import graph_url
from .tokens import Credentials

__all__ = ["GraphError", "InstagramClient", "graph_error"]

_THROTTLED = (4, 17, 32, 613)
_TRANSIENT = (1, 2, -1)
#: Subcodes that are not worth another try even when their code usually is.
_FINAL_SUBCODES = (2207051, 2207032, 2207053)


@dataclass
class GraphError:
    """The Graph API's error envelope, read."""

    status: int
    code: int = 0
    subcode: int = 0
    message: str = ""
    transient: bool = False

    @property
    def retryable(self) -> bool:
        if self.subcode in _FINAL_SUBCODES:
            return False
        return self.transient or self.code in _THROTTLED + _TRANSIENT or self.status >= 500


def graph_error(resp: httpx.Response) -> GraphError:
    try:
        body = resp.json()
    except ValueError:
        return GraphError(resp.status_code, message=(resp.text or "").strip()[:200])
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return GraphError(resp.status_code, message=str(body)[:200])
    return GraphError(
        resp.status_code,
        code=int(err.get("code") or 0),
        subcode=int(err.get("error_subcode") or 0),
        message=str(err.get("error_user_msg") or err.get("message") or "")[:300],
        transient=bool(err.get("is_transient")),
    )


def _time(value: str) -> float | None:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except (TypeError, ValueError):
        return None


class InstagramClient:
    """The calls a Reel makes, for one account (`Credentials`; its `uid` is the Instagram user id)."""

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
        self.setup = credentials.account.setup or "facebook"
        self.user = credentials.account.uid
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

    def error(self, err: GraphError, doing: str) -> ProviderError:
        said = f"code {err.code}" + (f"/{err.subcode}" if err.subcode else "")
        message = self.settings.redact(err.message)
        if err.code == 9 or err.subcode == 2207042:
            return PublishLimitError(
                f"Instagram's publishing limit for this account is reached ({said}: API posts in a rolling "
                "24 hours); a slot frees 24 hours after each post; nothing was posted",
                provider="instagram",
                limit="content_publishing_limit",
                status=err.status,
            )
        if err.subcode == 2207051:
            return ProviderError(
                f"Instagram restricts this account's activity ({said}: {message}); post from the app; "
                "not tried again",
                provider="instagram",
                status=err.status,
            )
        if err.code == 190 or err.code == 10 or 200 <= err.code <= 299:
            return AuthError(
                f"Instagram refused the account's sign-in while {doing} ({said}: {message}); connect the "
                "account again (allowing content publishing)",
                provider="instagram",
                status=err.status,
            )
        return ProviderError(
            f"Instagram refused while {doing} ({said}: {message or 'no message'})",
            provider="instagram",
            status=err.status,
            retryable=err.retryable,
        )

    def limit_reached(self, used: int, total: int) -> PublishLimitError:
        """The line a reached publishing cap becomes, before anything is made."""
        return PublishLimitError(
            f"Instagram's publishing limit for this account is reached: {used} of {total} API posts in "
            "the last 24 hours (content_publishing_limit); a slot frees 24 hours after each post; nothing "
            "was posted",
            provider="instagram",
            limit="content_publishing_limit",
        )

    # -- Graph calls ------------------------------------------------------------------------

    async def graph(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        repeat: bool = True,
        missing: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """One Graph call with the account's token; its JSON body ({} for an error whose code is in
        `missing`: the object is not there). `repeat=False`: a request that must not be sent twice
        (media_publish): no answer, or a 5xx, is `OutcomeUnknownError`."""
        url = graph_url(self.settings, self.setup, path)
        failures, renewed = 0, False
        while True:
            headers = {"Authorization": f"Bearer {await self.credentials.token()}"}
            try:
                resp = await self.http.request(method, url, params=params, data=data, headers=headers)
            except httpx.TransportError as e:
                trouble = f"Instagram did not answer while {doing} ({type(e).__name__})"
                if not repeat:
                    raise OutcomeUnknownError(trouble, provider="instagram", retryable=True) from None
                failures += 1
                broke = ProviderError(trouble, provider="instagram", retryable=True)
                await self.policy.pause(failures, broke)
                continue
            if resp.status_code == 200:
                body = resp.json()
                return body if isinstance(body, dict) else {}
            err = graph_error(resp)
            if err.code in missing:
                return {}
            if err.code == 190 and not renewed:
                renewed = True
                await self.credentials.renew()
                continue
            error = self.error(err, doing)
            if not repeat and err.status >= 500:
                raise OutcomeUnknownError(error.message, provider="instagram", retryable=True)
            if error.retryable and repeat:
                failures += 1
                await self.policy.pause(failures, error)
                continue
            raise error

    async def publishing_limit(self) -> tuple[int, int]:
        """(posts in the last 24 hours, the cap), as Instagram says now (the cap changed over the years)."""
        body = await self.graph(
            "GET",
            f"{self.user}/content_publishing_limit",
            "reading the publishing limit",
            params={"fields": "quota_usage,config"},
        )
        row = (body.get("data") or [{}])[0] or {}
        total = int((row.get("config") or {}).get("quota_total") or 100)
        return int(row.get("quota_usage") or 0), total

    async def create(self, fields: dict[str, str]) -> dict[str, Any]:
        """A Reels container: {"id"} (video_url) or {"id", "uri"} (resumable). Repeating it after trouble
        is safe: an unused container expires in 24 hours."""
        body = await self.graph("POST", f"{self.user}/media", "making the Reel's container", data=fields)
        if not body.get("id"):
            raise ProviderError("Instagram made no container", provider="instagram", retryable=True)
        return body

    async def container(self, container_id: str) -> dict[str, Any] | None:
        """The container's `status_code`, `status` and `video_status`; None when Instagram has none."""
        body = await self.graph(
            "GET",
            container_id,
            "asking about the Reel's container",
            params={"fields": "id,status_code,status,video_status"},
            missing=(24, 100),
        )
        return body or None

    async def publish(self, container_id: str) -> str:
        """media_publish: the Reel's media id. Never repeated here: no answer is `OutcomeUnknownError`."""
        body = await self.graph(
            "POST",
            f"{self.user}/media_publish",
            "publishing the Reel",
            data={"creation_id": container_id},
            repeat=False,
        )
        if not body.get("id"):
            raise OutcomeUnknownError("Instagram published without a media id", provider="instagram")
        return str(body["id"])

    async def permalink(self, media_id: str) -> str:
        body = await self.graph("GET", media_id, "reading the Reel's address", params={"fields": "permalink"})
        return str(body.get("permalink") or "")

    async def find(self, caption: str, since: float) -> dict[str, Any] | None:
        """The account's newest post with this caption made after `since` (a container that says
        PUBLISHED names no media id: the post is found in the account's media)."""
        body = await self.graph(
            "GET",
            f"{self.user}/media",
            "looking for the Reel among the account's posts",
            params={"fields": "id,caption,timestamp,permalink", "limit": "25"},
        )
        for item in body.get("data") or []:
            made = _time(str(item.get("timestamp") or ""))
            if str(item.get("caption") or "") == caption and (made is None or made >= since - 300):
                return dict(item)
        return None

    # -- the bytes --------------------------------------------------------------------------

    async def uploaded(self, container_id: str) -> int:
        """Bytes Instagram has of the container's video (`video_status.uploading_phase`)."""
        state = await self.container(container_id) or {}
        phase = (state.get("video_status") or {}).get("uploading_phase") or {}
        return int(phase.get("bytes_transferred") or 0)

    async def rupload(self, container_id: str, uri: str, path: Path, size: int, offset: int) -> None:
        """Send the file from `offset` to the container's upload address; after trouble, ask how many
        bytes arrived (`bytes_transferred`) and go on from there.

        Raises:
            ProviderError: an upload Instagram refuses (`retriable: false`), or trouble that outlasted
                the tries (retryable: the container keeps what arrived for 24 hours).
        """
        url = service_url(self.settings, "instagram_upload", uri)
        failures, renewed = 0, False
        while offset < size:
            with open(path, "rb") as fh:
                fh.seek(offset)
                body = fh.read()
            headers = {
                "Authorization": f"OAuth {await self.credentials.token()}",
                "offset": str(offset),
                "file_size": str(size),
                "Content-Type": "application/octet-stream",
            }
            try:
                resp = await self.http.post(url, content=body, headers=headers)
            except httpx.TransportError as e:
                failures += 1
                trouble = ProviderError(
                    f"the upload to Instagram broke off ({type(e).__name__})",
                    provider="instagram",
                    retryable=True,
                )
                await self.policy.pause(failures, trouble)
                offset = await self.uploaded(container_id)
                continue
            try:
                answer = resp.json()
            except ValueError:
                answer = {}
            answer = answer if isinstance(answer, dict) else {}
            if resp.status_code == 200 and answer.get("success"):
                return
            debug = answer.get("debug_info") or {}
            why = self.settings.redact(str(debug.get("message") or resp.text[:200]))
            if "unauthorized" in why.lower() and not renewed:
                renewed = True
                await self.credentials.renew()
                continue
            if debug.get("retriable") or resp.status_code >= 500:
                failures += 1
                trouble = ProviderError(
                    f"Instagram could not take the upload ({debug.get('type') or resp.status_code}: {why})",
                    provider="instagram",
                    retryable=True,
                )
                await self.policy.pause(failures, trouble)
                offset = await self.uploaded(container_id)
                continue
            raise ProviderError(
                f"Instagram refused the upload ({debug.get('type') or resp.status_code}: {why})",
                provider="instagram",
                status=resp.status_code,
            )
