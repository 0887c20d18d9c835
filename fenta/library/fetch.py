"""Downloading a URL for the library through the guarded fetch (`fenta.netguard`: http(s) only, at most
5 redirects each checked, and for untrusted input no private address), with a size cap enforced
while streaming, and media content types only."""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from urllib.parse import urlparse

from ..errors import AssetError, URLError
from ..netguard import Resolver, checked_addresses, open_stream, parse_url
from ..policy import TRUSTED, Policy

__all__ = ["DEFAULT_MAX_BYTES", "is_url", "check_url", "url_key", "download"]

DEFAULT_MAX_BYTES = 500 * 1024 * 1024

#: Content types of media: any video/, image/ or audio/ type, and the generic ones file hosts send.
_GENERIC = {"application/octet-stream", "binary/octet-stream", "application/mp4", "application/ogg"}


def is_url(source: str) -> bool:
    """Whether a `fenta assets add` argument is meant as a URL (it has a scheme, e.g. `ftp://`)."""
    return "://" in source


def check_url(url: str, policy: Policy = TRUSTED, resolve: Resolver | None = None) -> None:
    """Raises AssetError unless `url` is a valid http(s) URL that `policy` may reach (for untrusted
    input its host is resolved and checked: see `fenta.netguard.checked_addresses`)."""
    try:
        parse_url(url)
        checked_addresses(url, policy, resolve)
    except URLError as e:
        raise AssetError(e.message) from None


def url_key(url: str) -> str:
    """One spelling of a URL, so `.../клип 1.mp4` and `.../%D0%BA...%201.mp4` are one download."""
    import httpx

    try:
        return str(httpx.URL(url))
    except (httpx.InvalidURL, ValueError):
        return url


def _media_type(content_type: str) -> bool:
    main = content_type.split(";")[0].strip().lower()
    return main.split("/")[0] in ("video", "image", "audio") or main in _GENERIC


def _suffix(url: str, content_type: str) -> str:
    suffix = Path(urlparse(url).path).suffix.lower()
    if suffix and len(suffix) <= 6:
        return suffix
    guessed = mimetypes.guess_extension(content_type.split(";")[0].strip().lower())
    return guessed or ".bin"


def _amount(n: float) -> str:
    """Bytes for a message: '12.3 MB', or '40 KB' below a tenth of a megabyte."""
    return f"{n / 2**20:.1f} MB" if n >= 0.1 * 2**20 else f"{n / 1024:.0f} KB"


def _why(e: Exception, timeout: float) -> str:
    """A transport failure in words (httpx's messages can be empty)."""
    import httpx

    if isinstance(e, httpx.ConnectError):
        return (
            f"cannot connect to {e.request.url.netloc.decode(errors='replace')}"
            if _has_request(e)
            else "cannot connect"
        )
    if isinstance(e, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    return f"{type(e).__name__}{': ' + str(e) if str(e) else ''}"


def _has_request(e: Exception) -> bool:
    try:
        return e.request is not None  # type: ignore[attr-defined]
    except RuntimeError:  # httpx raises when an error has no request attached
        return False


def download(
    url: str,
    folder: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 60.0,
    policy: Policy = TRUSTED,
    resolve: Resolver | None = None,
) -> Path:
    """Fetch `url` into a new file in `folder` and return it; nothing is left behind on failure.

    Raises:
        AssetError: not a valid http(s) URL, more than 5 redirects, an address `policy` refuses (on
            any hop), an HTTP error status, not a media content type, larger than `max_bytes`, or the
            connection failed.
    """
    import httpx

    check_url(url)
    folder.mkdir(parents=True, exist_ok=True)
    dest: Path | None = None
    try:
        with open_stream(url, policy=policy, timeout=timeout, resolve=resolve) as resp:
            if resp.status_code != 200:
                raise AssetError(
                    f"download failed with HTTP {resp.status_code}",
                    file=url,
                    retryable=resp.status_code == 429 or resp.status_code >= 500,
                )
            ctype = resp.headers.get("content-type", "")
            if not _media_type(ctype):
                raise AssetError(
                    f"the server sent '{ctype or 'no content type'}', not video, image or audio", file=url
                )
            length = resp.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise AssetError(
                    f"the file is {_amount(int(length))}, over the {_amount(max_bytes)} limit", file=url
                )
            dest = folder / f"{uuid.uuid4().hex}{_suffix(str(resp.url), ctype)}"
            size = 0
            with open(dest, "wb") as fh:
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise AssetError(f"the download passed the {_amount(max_bytes)} limit", file=url)
                    fh.write(chunk)
    except URLError as e:
        if dest is not None:
            dest.unlink(missing_ok=True)
        raise AssetError(e.message) from None
    except httpx.HTTPError as e:
        if dest is not None:
            dest.unlink(missing_ok=True)
        raise AssetError(f"download failed: {_why(e, timeout)}", file=url, retryable=True) from None
    except BaseException:
        if dest is not None:
            dest.unlink(missing_ok=True)
        raise
    return dest
