"""An httpx client of the hosted project (Supabase): PostgREST rows, Storage objects, TUS uploads.

Plain httpx, not the `supabase` package (it caps httpx below 0.29 and pins every sub-package). Every
request carries `apikey: FENTA_API_KEY` and `Authorization: Bearer FENTA_API_TOKEN` (the key when no
token is set). Failures become one `SyncError` line each:

    PostgREST   {"code", "message", "details", "hint"}      -> "POST /rest/v1/jobs: HTTP 409 23505 ..."
    gateway     HTTP 401 {"message", "hint"} (no code)      -> "... the gateway refused FENTA_API_KEY ..."
    Storage     HTTP 400 {"statusCode": "409", "code", ...} -> the real status (409) from the body

Network errors, 429, 5xx and PostgREST's PGRST000-003 are retried with the project's one retry policy
(`fenta.retry.RetryPolicy`, waits scaled by FENTA_BACKOFF_SCALE); nothing else is.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from ...config import DEFAULT_URLS, Settings
from ...errors import SyncError
from ...retry import Retry, RetryPolicy, parse_retry_after, retryable_status
from .keys import check_key, url_path

__all__ = ["Hosted", "CHUNK", "TUS_THRESHOLD", "describe_error", "check_configured", "configured"]

#: TUS chunk size: Supabase's resumable endpoint takes chunks of exactly 6 MiB (the last one shorter).
CHUNK = 6 * 1024 * 1024
#: Files above this go through TUS; standard uploads are meant for files up to 6 MB.
TUS_THRESHOLD = 6 * 1000 * 1000
#: Seconds one request may take.
TIMEOUT = 60.0
#: PostgREST's and Storage's codes for a Bearer token they refused.
_JWT_CODES = {"PGRST301", "PGRST302", "PGRST303", "InvalidJWT"}
#: PostgREST codes that mean "the database is unreachable for now".
_RETRY_CODES = {"PGRST000", "PGRST001", "PGRST002", "PGRST003"}


def check_configured(settings: Settings) -> str:
    """The key, or a SyncError (exit 2) saying what to set. The project's URL must be set too: the key
    (often the service key) never goes to a built-in default host."""
    key = settings.keys.get("fenta")
    if not key:
        raise SyncError(
            "hosted sync needs the project's key: set FENTA_API_KEY (the service_role or sb_secret_ key) and "
            "FENTA_API_URL (https://<project-ref>.supabase.co)",
            field="FENTA_API_KEY",
        )
    url = settings.urls["fenta"].rstrip("/")
    if not url or url == DEFAULT_URLS["fenta"]:
        raise SyncError(
            "hosted sync needs the project's URL: set FENTA_API_URL "
            "(https://<project-ref>.supabase.co); FENTA_API_KEY is sent only there",
            field="FENTA_API_URL",
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise SyncError(
            f"FENTA_API_URL '{url}' is not an http(s) URL: set it to https://<project-ref>.supabase.co",
            field="FENTA_API_URL",
        )
    return key


def configured(settings: Settings) -> bool:
    """Whether hosted sync can be used: FENTA_API_KEY and a usable FENTA_API_URL are set."""
    try:
        check_configured(settings)
    except SyncError:
        return False
    return True


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error(what: str, status: int, body: bytes | str) -> tuple[str, int, str | None]:
    """(one-line message, real status, code) for an error answer of the gateway, PostgREST or Storage."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _one_line(f"{what}: HTTP {status}" + (f": {raw}" if raw.strip() else "")), status, None
    if "statusCode" in data:  # Storage: the real status is in the body (HTTP 400 for most errors)
        try:
            real = int(str(data["statusCode"]))
        except ValueError:
            real = status
        code = data.get("code") or data.get("error")
        text = f"{what}: {real} {code}: {data.get('message') or data.get('error') or ''}".rstrip(": ")
        return _one_line(text), real, code
    code = data.get("code")
    message = data.get("message") or data.get("msg") or data.get("error") or ""
    if status == 401 and not code:  # the API gateway, before PostgREST or Storage saw the request
        hint = f" ({data['hint']})" if data.get("hint") else ""
        return (
            _one_line(
                f"{what}: the gateway refused the request: HTTP 401 {message}{hint}; check "
                "FENTA_API_KEY and FENTA_API_TOKEN"
            ),
            status,
            None,
        )
    text = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if data.get("details"):
        text += f" ({data['details']})"
    if data.get("hint"):
        text += f"; hint: {data['hint']}"
    return _one_line(text), status, str(code) if code else None


class Hosted:
    """The hosted project's REST and Storage APIs (async; use `async with Hosted(settings) as api`).

    Args:
        settings: FENTA_API_URL, FENTA_API_KEY, FENTA_API_TOKEN, FENTA_BACKOFF_SCALE.
        attempts: Attempts per request (network errors, 429, 5xx); 1 turns retries off.

    Raises:
        SyncError: FENTA_API_KEY is not set (exit 2).
    """

    def __init__(self, settings: Settings, *, attempts: int = 4, timeout: float = TIMEOUT) -> None:
        key = check_configured(settings)
        self.settings = settings
        self.base = settings.urls["fenta"].rstrip("/")
        self.retry = RetryPolicy(attempts=attempts, base=0.5, cap=8.0, scale=settings.backoff_scale)
        headers = {
            "apikey": key,
            "authorization": f"Bearer {settings.api_token or key}",
            "user-agent": "fenta (hosted sync)",
        }
        self.http = httpx.AsyncClient(headers=headers, timeout=timeout, follow_redirects=False)

    async def __aenter__(self) -> Hosted:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ requests

    def _what(self, method: str, url: str) -> str:
        path = httpx.URL(url).path
        return f"{method} {path}"

    async def _once(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request; a SyncError (retryable or not) for anything but 2xx."""
        what = self._what(method, url)
        try:
            resp = await self.http.request(method, url, **kw)
        except httpx.TimeoutException:
            raise SyncError(
                f"{what}: no answer within {self.http.timeout.read or TIMEOUT:g} s", retryable=True
            ) from None
        except httpx.TransportError as e:
            raise SyncError(
                _one_line(f"{what}: cannot reach {httpx.URL(url).host}: {type(e).__name__}: {e}"),
                retryable=True,
            ) from None
        if resp.status_code < 300:
            return resp
        text, real, code = describe_error(what, resp.status_code, resp.content)
        if code in _JWT_CODES:  # the key got past the gateway; the Bearer did not
            bearer = (
                "FENTA_API_TOKEN"
                if self.settings.api_token
                else "FENTA_API_KEY (the Bearer when FENTA_API_TOKEN is not set)"
            )
            text += f"; check {bearer}"
        retryable = retryable_status(real) or code in _RETRY_CODES
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        text = self.settings.redact(text)
        raise SyncError(text, status=real, code=code, retryable=retryable, retry_after=retry_after)

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request to `path` (under the project URL), retried on network trouble, 429 and 5xx."""
        url = path if path.startswith("http") else self.base + path

        async def attempt(_: int) -> httpx.Response:
            try:
                return await self._once(method, url, **kw)
            except SyncError as e:
                if e.retryable:
                    raise Retry(e, retry_after=e.retry_after) from None
                raise

        return await self.retry.run(attempt)

    # ------------------------------------------------------------------ PostgREST

    async def upsert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert or merge rows by id (one request; every row must have the same keys)."""
        if not rows:
            return
        await self.request(
            "POST",
            f"/rest/v1/{table}",
            params={"on_conflict": "id"},
            json=rows,
            headers={"prefer": "resolution=merge-duplicates,return=minimal"},
        )

    async def select(self, table: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Rows matching PostgREST query parameters (filters, select, order, limit)."""
        return (await self.request("GET", f"/rest/v1/{table}", params=params)).json()

    async def update(
        self, table: str, filters: dict[str, str], values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """PATCH the rows matching `filters`; returns the rows changed (empty: none matched)."""
        resp = await self.request(
            "PATCH",
            f"/rest/v1/{table}",
            params=filters,
            json=values,
            headers={"prefer": "return=representation"},
        )
        return resp.json()

    # ------------------------------------------------------------------ Storage

    async def upload(
        self,
        bucket: str,
        name: str,
        file: Path,
        content_type: str,
        *,
        resume_url: str | None = None,
        on_created: Callable[[str], Awaitable[None] | None] | None = None,
    ) -> None:
        """Put a file at `bucket/name`, replacing what is there (`x-upsert: true`); files over 6 MB go by TUS.

        Args:
            name: The object's key (`keys.object_key`): checked, and percent-encoded in the URL.
            resume_url: A TUS upload of this file started earlier (continued from the server's offset).
            on_created: Called with a new TUS upload's URL (to resume it from another process).

        Raises:
            SyncError: the key is not one fenta builds (a `..` segment, a character Storage refuses),
                before any request; or the service's answer.
        """
        where = url_path(bucket, name)
        size = file.stat().st_size
        if size <= TUS_THRESHOLD:
            await self.request(
                "POST",
                f"/storage/v1/object/{where}",
                content=file.read_bytes(),
                headers={"content-type": content_type, "x-upsert": "true", "cache-control": "max-age=3600"},
            )
            return
        await self._tus(bucket, name, file, size, content_type, resume_url, on_created)

    async def sign(self, bucket: str, name: str, expires_in: int) -> str:
        """A signed download URL for one object, valid `expires_in` seconds (absolute).

        Storage answers `/object/sign/{bucket}/{key}?token=...` with the key as it is, not encoded (the
        official clients encode it themselves), so the URL is built again here from the encoded key and
        the answer's token.
        """
        where = url_path(bucket, name)
        body = {"expiresIn": int(expires_in)}
        resp = await self.request("POST", f"/storage/v1/object/sign/{where}", json=body)
        signed = resp.json().get("signedURL") or resp.json().get("signedUrl")
        if not signed:
            raise SyncError(f"POST /storage/v1/object/sign/{where}: the answer has no signedURL")
        if signed.startswith("http"):
            return signed
        token = signed.rpartition("?token=")[2] if "?token=" in signed else None
        if not token:
            raise SyncError(f"POST /storage/v1/object/sign/{where}: the signedURL has no token")
        return f"{self.base}/storage/v1/object/sign/{where}?token={token}"

    # ------------------------------------------------------------------ TUS (resumable uploads)

    async def _offset(self, url: str) -> int | None:
        """The server's offset of an upload (HEAD); None when the upload is gone."""
        try:
            resp = await self.request("HEAD", url, headers={"tus-resumable": "1.0.0"})
        except SyncError as e:
            if e.status in (403, 404, 410):
                return None
            raise
        return int(resp.headers.get("upload-offset", "0"))

    async def _tus(
        self,
        bucket: str,
        name: str,
        file: Path,
        size: int,
        content_type: str,
        url: str | None,
        on_created: Any,
    ) -> None:
        offset = await self._offset(url) if url else None
        if offset is None:
            check_key(bucket, name)  # the metadata carries the key as it is (base64), never a URL
            meta = {
                "bucketName": bucket,
                "objectName": name,
                "contentType": content_type,
                "cacheControl": "3600",
            }
            resp = await self.request(
                "POST",
                "/storage/v1/upload/resumable",
                headers={
                    "tus-resumable": "1.0.0",
                    "upload-length": str(size),
                    "x-upsert": "true",
                    "upload-metadata": ",".join(
                        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items()
                    ),
                },
            )
            location = resp.headers.get("location")
            if not location:
                raise SyncError("POST /storage/v1/upload/resumable: the answer has no Location")
            url = location if location.startswith("http") else self.base + location
            offset = 0
            if on_created is not None:
                maybe = on_created(url)
                if maybe is not None:
                    await maybe
        assert url is not None
        failures = 0
        with open(file, "rb") as fh:
            while offset < size:
                fh.seek(offset)
                chunk = fh.read(CHUNK)
                try:
                    resp = await self._once(
                        "PATCH",
                        url,
                        content=chunk,
                        headers={
                            "tus-resumable": "1.0.0",
                            "upload-offset": str(offset),
                            "content-type": "application/offset+octet-stream",
                        },
                    )
                    offset = int(resp.headers.get("upload-offset", offset + len(chunk)))
                    failures = 0
                except SyncError as e:
                    failures += 1
                    if not (e.retryable or e.status == 409) or failures >= self.retry.attempts:
                        raise
                    await self.retry.sleep(failures, e.retry_after)
                    # The connection broke mid-chunk (or the offsets disagree): ask the server how much it
                    # kept and go on from there instead of starting again.
                    got = await self._offset(url)
                    if got is None:
                        raise SyncError(
                            f"PATCH {httpx.URL(url).path}: the upload is gone on the server; it "
                            "starts again next push",
                            retryable=True,
                        ) from None
                    offset = got


def content_type(path: str | os.PathLike) -> str:
    """The MIME type of an artifact by its extension."""
    ext = Path(path).suffix.lower()
    return {
        ".mp4": "video/mp4",
        ".mov": "video/quicktime",
        ".webm": "video/webm",
        ".srt": "application/x-subrip",
        ".vtt": "text/vtt",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".webp": "image/webp",
        ".json": "application/json",
        ".txt": "text/plain",
        ".mp3": "audio/mpeg",
        ".wav": "audio/wav",
    }.get(ext, "application/octet-stream")
