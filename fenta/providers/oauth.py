"""What the publishing sign-in flows share: PKCE, the loopback receiver, and token requests.

`fenta accounts connect` signs in the way each service documents for a program on the user's machine
(`google`, `tiktok_auth`, `instagram_auth`): a browser page whose answer comes back to a one-request
server on 127.0.0.1 (`LoopbackReceiver`), protected by `state` and PKCE. Token endpoints are judged by
their body: an `error` in it is a refusal whatever the HTTP status (TikTok documents none), and a
refusal becomes `AccountError` carrying the service's code, never a token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from ..config import Settings
from ..errors import AccountError
from ..retry import RetryPolicy

__all__ = [
    "pkce",
    "new_state",
    "LoopbackReceiver",
    "answer_of",
    "token_call",
    "http_client",
    "check_state",
    "refresh_grant",
]

#: Seconds the browser has to come back before a connect gives up.
CONSENT_SECONDS = 300.0


def pkce(*, hex_challenge: bool = False) -> tuple[str, str]:
    """(verifier, challenge): a 86-character verifier from [A-Za-z0-9-_] and its S256 challenge, base64url
    without padding (RFC 7636, Google), or hex (TikTok's desktop flow says so, against the RFC)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = digest.hex() if hex_challenge else base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


def new_state() -> str:
    return secrets.token_urlsafe(24)


def http_client(settings: Settings) -> httpx.Client:
    """The client sign-in and refresh requests go through: no redirects followed, 30 s timeouts."""
    return httpx.Client(timeout=30.0, follow_redirects=False, headers={"User-Agent": "fenta/0.1"})


_PAGE = """<!doctype html><meta charset="utf-8"><title>fenta</title>
<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p></body>"""


class LoopbackReceiver:
    """A server on 127.0.0.1 that waits for the one redirect a sign-in ends with.

    Args:
        port: The port (0: a free one); services that register redirect URIs by port need a fixed one.
        path: The redirect's path (`/` for Google, `/callback/` for TikTok).
        host: The name in the redirect URI (`127.0.0.1`, or `localhost` where a service wants that).
    """

    def __init__(self, *, port: int = 0, path: str = "/", host: str = "127.0.0.1") -> None:
        self.path = path
        self.host = host
        self.answer: dict[str, str] | None = None
        self._done = threading.Event()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path.rstrip("/") != receiver.path.rstrip("/") or receiver._done.is_set():
                    self.send_error(404)
                    return
                receiver.answer = dict(parse_qsl(url.query, keep_blank_values=True))
                failed = receiver.answer.get("error")
                title = "Sign-in refused" if failed else "Signed in"
                text = (
                    f"The service said: {html.escape(failed)}. Nothing was stored."
                    if failed
                    else "fenta has what it needs: you can close this tab."
                )
                body = _PAGE.format(title=title, text=text).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                receiver._done.set()

        try:
            self._server = HTTPServer(("127.0.0.1", port), _Handler)
        except OSError as e:
            raise AccountError(
                f"cannot listen on 127.0.0.1:{port} for the sign-in's answer ({e.strerror})",
                provider="accounts",
                field="--port",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def redirect_uri(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}{self.path}"

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float = CONSENT_SECONDS) -> dict[str, str]:
        """The redirect's query parameters."""
        if not self._done.wait(timeout):
            raise AccountError(
                f"no answer from the browser within {timeout:.0f} s; nothing was stored (run the "
                "command again)",
                provider="accounts",
            )
        assert self.answer is not None
        return self.answer


def answer_of(pasted: str) -> dict[str, str]:
    """The query parameters of a redirect URL the user pasted (a registered HTTPS page's address)."""
    return dict(parse_qsl(urlsplit(pasted.strip()).query, keep_blank_values=True))


def check_state(answer: dict[str, str], state: str, title: str, platform: str) -> str:
    """The authorization code of a redirect, after its state matched and it carried no error."""
    if answer.get("error"):
        why = answer.get("error_description") or answer.get("error_reason") or ""
        raise AccountError(
            f"{title} refused the sign-in ({answer['error']}{': ' + why if why else ''}); nothing was stored",
            provider=platform,
            code=answer["error"],
        )
    if answer.get("state") != state:
        raise AccountError(
            "the sign-in's answer does not match this request (state); nothing was stored: run "
            "the command again",
            provider=platform,
        )
    code = answer.get("code", "")
    if not code:
        raise AccountError(
            f"{title}'s answer carried no authorization code; nothing was stored", provider=platform
        )
    return code


def _refusal(body: Any) -> tuple[str, str] | None:
    """(code, description) when a token endpoint's body is a refusal, in any of the services' shapes."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, str) and err:
        return err, str(body.get("error_description") or "")
    if isinstance(err, dict) and str(err.get("code", "")).lower() != "ok":
        return str(err.get("code") or err.get("type") or "error"), str(err.get("message") or "")
    if body.get("error_type"):  # api.instagram.com
        return str(body["error_type"]), str(body.get("error_message") or "")
    if body.get("error_code") and not body.get("access_token"):  # Google's device/code quota answer
        return str(body["error_code"]), ""
    return None


def token_call(
    settings: Settings,
    client: httpx.Client,
    method: str,
    url: str,
    *,
    title: str,
    platform: str,
    data: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One request to a token (or identity) endpoint; its JSON body.

    A request that never reached the service (no connection) or that it did not act on (429, 503) is
    sent again with backoff (`fenta.retry`); anything else is answered once: a refresh that rotates its
    token must not be repeated blindly.

    Raises:
        AccountError: the body is a refusal (`code` is the service's error) or not JSON, or the
            service cannot be reached.
    """
    policy = RetryPolicy(attempts=4, base=1.0, scale=settings.backoff_scale)
    attempt = 1
    while True:
        try:
            resp = client.request(method, url, data=data, params=params, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            if policy.gives_up(attempt):
                raise AccountError(
                    f"{title} cannot be reached ({type(e).__name__}); try again later",
                    provider=platform,
                    retryable=True,
                ) from None
        except httpx.TransportError as e:  # sent, but the answer was lost: a rotating refresh may have taken
            raise AccountError(
                f"{title} did not answer ({type(e).__name__}); try again later",
                provider=platform,
                retryable=True,
            ) from None
        else:
            if resp.status_code not in (429, 503) or policy.gives_up(attempt):
                break
        time.sleep(policy.delay(attempt))
        attempt += 1
    try:
        body = resp.json()
    except ValueError:
        body = None
    refusal = _refusal(body)
    if refusal is not None:
        code, why = refusal
        why = settings.redact(why)
        raise AccountError(
            f"{title} refused: {code}{': ' + why if why else ''}",
            provider=platform,
            code=code,
            status=resp.status_code,
            retryable=resp.status_code >= 500,
        )
    if resp.status_code >= 400 or not isinstance(body, dict):
        raise AccountError(
            f"{title} answered HTTP {resp.status_code} without a usable body",
            provider=platform,
            status=resp.status_code,
            retryable=resp.status_code >= 500,
        )
    return body


def refresh_grant(
    settings: Settings,
    url: str,
    form: dict[str, str],
    *,
    title: str,
    platform: str,
    refused: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a refresh-token grant; its JSON body. A sign-in the service no longer accepts
    (`invalid_grant`) is one AccountError saying `refused` (which names how to connect again)."""
    try:
        with http_client(settings) as client:
            return token_call(
                settings, client, "POST", url, title=title, platform=platform, data=form, headers=headers
            )
    except AccountError as e:
        if e.code != "invalid_grant":
            raise
        raise AccountError(refused, provider=platform, code=e.code) from None
