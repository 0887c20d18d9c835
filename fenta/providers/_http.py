"""The shared HTTP machinery of every provider client: auth, retries, typed errors, downloads.

Conventions (all clients follow them):
- one `httpx.AsyncClient` per provider per run (`client_for(ctx, Cls)` keeps it in `ctx.services`);
- base URL from settings (`FENTA_<PROVIDER>_URL`), key from settings (environment or `.env`);
- retries follow the one `RetryPolicy` (`fenta.retry`): transport errors and the shared retryable
  statuses, at most `max_attempts`, exponential backoff with equal jitter, `Retry-After` honoured;
- errors are typed (`AuthError`, `CreditsError`, `RateLimitError`, `ProviderError`), say what to do,
  and never contain the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import httpx

from ..config import KEY_NAMES, Settings
from ..errors import AuthError, CreditsError, ProviderError, RateLimitError
from ..retry import Retry, RetryPolicy, parse_retry_after, retryable_status

__all__ = ["ProviderClient", "client_for"]


class ProviderClient:
    """Base class of the provider clients.

    Args:
        settings: Where the key and base URL come from.
        transport: An httpx transport to use instead of the network (tests).
        timeout: Seconds for connect/read/write.
        max_attempts: Attempts per request, retries included.
        backoff: First backoff in seconds (doubles each retry, with jitter).
        max_wait: Longest `Retry-After` the client will sleep through; longer waits raise.

    Attributes:
        retry: The `RetryPolicy` every request, download and body-level retry of this client follows.
    """

    name: ClassVar[str] = "provider"
    title: ClassVar[str] = "Provider"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        self.settings = settings
        self.base_url = settings.urls.get(self.name, "")
        self.key = settings.keys.get(self.name)
        # settings.backoff_scale (FENTA_BACKOFF_SCALE, default 1) exists only so tests can shrink the waits.
        self.retry = RetryPolicy(
            attempts=max_attempts, base=backoff, max_retry_after=max_wait, scale=settings.backoff_scale
        )
        self.last_headers: dict[str, str] = {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": "fenta/0.1 (+https://github.com/fenta)"},
        )

    # -- hooks for subclasses ------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (the key is only ever placed here)."""
        return {"Authorization": f"Bearer {self.require_key()}"}

    def error_message(self, resp: httpx.Response) -> str:
        """The provider's own error text from a response body."""
        try:
            body = resp.json()
        except ValueError:
            return (resp.text or "").strip()[:200] or resp.reason_phrase
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                return str(err.get("message") or err)
            if err:
                return str(err)
            for k in ("msg", "message", "detail"):
                if body.get(k):
                    return str(body[k])
        return str(body)[:200]

    # -- core ----------------------------------------------------------------------------

    @property
    def key_var(self) -> str:
        return KEY_NAMES.get(self.name, f"{self.name.upper()}_API_KEY")

    def require_key(self) -> str:
        if not self.key:
            raise AuthError(
                f"{self.key_var} is not set: export it or put it in a .env file", provider=self.name
            )
        return self.key

    def _safe(self, text: str) -> str:
        return self.settings.redact(text)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request with auth, retries and typed errors; returns a 2xx response.

        Raises:
            AuthError: 401/403, or no key configured.
            CreditsError: 402.
            RateLimitError: 429 after all attempts (or a wait longer than `max_wait`).
            ProviderError: any other failure, with the provider's own message.
        """
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}

        async def attempt(n: int) -> httpx.Response:
            try:
                resp = await self._client.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as e:
                kind = (
                    "timed out"
                    if isinstance(e, httpx.TimeoutException)
                    else f"could not be reached ({type(e).__name__})"
                )
                raise Retry(
                    ProviderError(
                        f"{self.title} {kind} after {n} attempts", provider=self.name, retryable=True
                    )
                ) from None
            self.last_headers = dict(resp.headers)
            if resp.status_code < 400:
                return resp
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if retryable_status(resp.status_code, retry_after=retry_after):
                await resp.aread()
                raise Retry(self._error(resp, retry_after), retry_after)
            raise self._error(resp, retry_after)

        return await self.retry.run(attempt)

    def _error(self, resp: httpx.Response, retry_after: float | None) -> ProviderError:
        status = resp.status_code
        msg = self._safe(self.error_message(resp))
        if status in (401, 403):
            return AuthError(
                f"{self.title} refused the key (HTTP {status}: {msg}); check {self.key_var}",
                provider=self.name,
                status=status,
            )
        if status == 402:
            return CreditsError(
                f"{self.title} account is out of credits (HTTP 402: {msg}); top up and re-run",
                provider=self.name,
                status=status,
            )
        if status == 429:
            wait = f"; retry in {retry_after:.0f}s" if retry_after else ""
            return RateLimitError(
                f"{self.title} rate limit reached (HTTP 429){wait}",
                provider=self.name,
                status=status,
                retry_after=retry_after,
            )
        if status >= 500:
            return ProviderError(
                f"{self.title} server error (HTTP {status}: {msg}); try again later",
                provider=self.name,
                status=status,
                retryable=True,
            )
        return ProviderError(
            f"{self.title} rejected the request (HTTP {status}: {msg})", provider=self.name, status=status
        )

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        resp = await self.request("GET", path, **kwargs)
        return self._json(resp)

    async def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        resp = await self.request("POST", path, json=body, **kwargs)
        return self._json(resp)

    def _json(self, resp: httpx.Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise ProviderError(
                f"{self.title} sent a malformed response (not JSON)",
                provider=self.name,
                status=resp.status_code,
                retryable=True,
            ) from None

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int = 500 * 1024 * 1024,
        content_types: tuple[str, ...] = ("video/", "image/", "audio/", "application/octet-stream"),
        authenticated: bool = False,
    ) -> int:
        """Stream `url` to `dest` (temporary name, then rename); returns the byte count.

        Retries transport errors and truncated bodies; refuses wrong content types and files over `max_bytes`.
        """
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        headers = self.auth_headers() if authenticated else {}

        async def attempt(n: int) -> int:
            try:
                async with self._client.stream("GET", url, headers=headers) as resp:
                    if resp.status_code >= 400:
                        await resp.aread()
                        error = ProviderError(
                            f"{self.title} download failed (HTTP {resp.status_code})",
                            provider=self.name,
                            status=resp.status_code,
                        )
                        if retryable_status(resp.status_code):
                            raise Retry(error, parse_retry_after(resp.headers.get("Retry-After")))
                        raise error
                    ctype = (
                        resp.headers.get("Content-Type", "application/octet-stream")
                        .split(";")[0]
                        .strip()
                        .lower()
                    )
                    if not ctype.startswith(content_types):
                        raise ProviderError(
                            f"{self.title} download is {ctype}, not media", provider=self.name
                        )
                    expected = int(resp.headers.get("Content-Length") or 0)
                    if expected > max_bytes:
                        raise ProviderError(
                            f"{self.title} download is {expected} bytes, over the {max_bytes}-byte cap",
                            provider=self.name,
                        )
                    size = 0
                    with open(tmp, "wb") as fh:
                        async for chunk in resp.aiter_bytes():
                            size += len(chunk)
                            if size > max_bytes:
                                raise ProviderError(
                                    f"{self.title} download exceeded the {max_bytes}-byte cap",
                                    provider=self.name,
                                )
                            fh.write(chunk)
                    if expected and size != expected:
                        raise httpx.RemoteProtocolError(f"truncated: {size} of {expected} bytes")
                os.replace(tmp, dest)
                return size
            except (httpx.TransportError, httpx.RemoteProtocolError) as e:
                tmp.unlink(missing_ok=True)
                raise Retry(
                    ProviderError(
                        f"{self.title} download failed after {n} attempts ({e})",
                        provider=self.name,
                        retryable=True,
                    )
                ) from None
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

        return await self.retry.run(attempt)

    async def aclose(self) -> None:
        await self._client.aclose()


def client_for(ctx: Any, cls: type[ProviderClient], **kwargs: Any) -> ProviderClient:
    """The run's shared client of `cls` (created on first use, closed when the run ends)."""
    key = f"provider:{cls.name}"
    if key not in ctx.services:
        ctx.services[key] = cls(ctx.settings, **kwargs)
    return ctx.services[key]
