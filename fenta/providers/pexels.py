"""Pexels: stock video and photo search, file selection, and rate-limit tracking.

Contract: `/work/shared/api-contracts.md` section 2. The key goes alone in `Authorization` (no
`Bearer`). Successful responses carry `X-Ratelimit-Limit/Remaining/Reset`; a 429 carries none,
so the client remembers the last reset it saw and names it in the error.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import httpx

from ..errors import ProviderError, RateLimitError
from ..retry import Retry
from ._http import ProviderClient

__all__ = ["PexelsClient", "pick_video_file", "pick_photo_url", "orientation_of"]


def orientation_of(width: int, height: int) -> str:
    """Pexels orientation for a canvas: portrait, landscape or square."""
    if width == height:
        return "square"
    return "portrait" if height > width else "landscape"


def pick_video_file(video: dict[str, Any], width: int, height: int) -> dict[str, Any] | None:
    """The mp4 rendition to download for a `width` x `height` canvas.

    Prefers mp4 files in the canvas orientation, then the smallest whose short side reaches the
    canvas short side; when none is that big, the biggest there is. HLS and size-less entries are skipped.
    """
    want = orientation_of(width, height)
    short = min(width, height)
    files = [
        f
        for f in video.get("video_files") or []
        if str(f.get("file_type") or "").lower() == "video/mp4"
        and f.get("width")
        and f.get("height")
        and f.get("link")
    ]
    if not files:
        return None

    def score(f: dict[str, Any]) -> tuple:
        w, h = int(f["width"]), int(f["height"])
        s = min(w, h)
        big_enough = s >= short
        # Lower is better: right orientation, big enough, then closest size (smallest big-enough
        # file, or largest too-small one).
        return (orientation_of(w, h) != want, not big_enough, s if big_enough else -s)

    return min(files, key=score)


def pick_photo_url(photo: dict[str, Any], width: int, height: int) -> str | None:
    """The photo rendition to download for a canvas (a sized `src` variant, else the original)."""
    src = photo.get("src") or {}
    want = orientation_of(width, height)
    short = min(width, height)
    if want == "portrait" and short <= 800 and src.get("portrait"):
        return src["portrait"]
    if want == "landscape" and short <= 627 and src.get("landscape"):
        return src["landscape"]
    if short <= 650 and src.get("large"):
        return src["large"]
    return (
        src.get("large2x")
        if short <= 1300 and src.get("large2x")
        else src.get("original") or src.get("large2x") or src.get("large")
    )


class PexelsClient(ProviderClient):
    """Search and fetch Pexels media (one instance per run via `client_for`).

    Attributes:
        ratelimit: The last `X-Ratelimit-*` values seen ({"limit", "remaining", "reset"}).
        api_calls: API requests made by this client (downloads excluded).
    """

    name: ClassVar[str] = "pexels"
    title: ClassVar[str] = "Pexels"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ratelimit: dict[str, int] = {}
        self.api_calls = 0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.require_key()}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.api_calls += 1
        try:
            resp = await super().request(method, path, **kwargs)
        except RateLimitError as e:
            reset = self.ratelimit.get("reset")
            if reset and not e.retry_after:
                wait = max(0, int(reset - time.time()))
                e.retry_after = float(wait)
                at = time.strftime("%H:%M UTC", time.gmtime(reset))
                e.message = f"Pexels rate limit reached (HTTP 429); the allowance resets in {wait}s (at {at})"
                e.args = (e.message,)
            raise
        self._note_ratelimit(resp.headers)
        return resp

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET and parse JSON; a malformed body counts as a transient failure (retried)."""

        async def attempt(n: int) -> Any:
            resp = await self.request("GET", path, **kwargs)
            try:
                return resp.json()
            except ValueError:
                raise Retry(
                    ProviderError(
                        f"Pexels sent a malformed response (not JSON) {n} times; try again later",
                        provider=self.name,
                        retryable=True,
                    )
                ) from None

        return await self.retry.run(attempt)

    def _note_ratelimit(self, headers: Any) -> None:
        # Read this response's own headers: concurrent requests share the client.
        seen: dict[str, int] = {}
        for field in ("limit", "remaining", "reset"):
            v = headers.get(f"x-ratelimit-{field}")
            if v is not None:
                try:
                    seen[field] = int(float(v))
                except ValueError:
                    pass
        if not seen:
            return
        # Responses to parallel requests arrive out of order: within one reset window the
        # smallest remaining count is the newest.
        if (
            "remaining" in seen
            and seen.get("reset") == self.ratelimit.get("reset")
            and "remaining" in self.ratelimit
        ):
            seen["remaining"] = min(seen["remaining"], self.ratelimit["remaining"])
        self.ratelimit.update(seen)

    async def search_videos(
        self,
        query: str,
        *,
        orientation: str | None = None,
        size: str | None = None,
        locale: str | None = None,
        page: int = 1,
        per_page: int = 15,
    ) -> dict[str, Any]:
        """`GET /videos/search`: one page of videos for `query`."""
        params = _params(
            query=query, orientation=orientation, size=size, locale=locale, page=page, per_page=per_page
        )
        return _page(await self.get_json("/videos/search", params=params), "videos")

    async def search_photos(
        self,
        query: str,
        *,
        orientation: str | None = None,
        size: str | None = None,
        locale: str | None = None,
        page: int = 1,
        per_page: int = 15,
    ) -> dict[str, Any]:
        """`GET /v1/search`: one page of photos for `query`."""
        params = _params(
            query=query, orientation=orientation, size=size, locale=locale, page=page, per_page=per_page
        )
        return _page(await self.get_json("/v1/search", params=params), "photos")

    async def get_video(self, video_id: int) -> dict[str, Any]:
        """`GET /videos/videos/:id`."""
        return await self.get_json(f"/videos/videos/{int(video_id)}")


def _params(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v not in (None, "")}


def _page(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key, []), list):
        raise ProviderError(
            f"Pexels sent an unexpected response (no '{key}' list)", provider="pexels", retryable=True
        )
    body.setdefault(key, [])
    return body
