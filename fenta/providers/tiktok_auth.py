"""Signing in to TikTok (Login Kit for desktop) and keeping the tokens fresh (publishing-contracts.md §2.3).

The desktop flow is PKCE with one twist TikTok documents against RFC 7636: the `code_challenge` is the
**hex** SHA-256 of the verifier. The redirect is `http://127.0.0.1:PORT/callback/`: register
`http://127.0.0.1:*/callback/` (any port) in the TikTok developer portal, or a fixed port and pass
`--port`. Scopes are comma-separated (`user.info.basic,video.publish`); the user may grant fewer, and
the token's `scope` says what was granted.

Refresh tokens rotate: depending on the docs' generation a refresh "may" return a new one (24 h access,
365 d refresh) or always does, the old one dying at once (2 h access, 180 d refresh). Whatever comes
back is stored before it is used (`fenta.providers.accounts.fresh` holds the account's lock). Errors
are judged by the body's `error`, never the HTTP status (TikTok documents none for OAuth errors).
`FENTA_TIKTOK_URL` replaces open.tiktokapis.com and www.tiktok.com.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from ..config import Settings
from ..errors import AccountError
from .accounts import Account, reconnect_hint, service_url
from .oauth import LoopbackReceiver, check_state, http_client, new_state, pkce, refresh_grant, token_call

__all__ = ["SCOPES", "connect", "refresh", "creator_info"]

AUTH_URL = "https://www.tiktok.com/v2/auth/authorize/"
TOKEN_URL = "https://open.tiktokapis.com/v2/oauth/token/"
CREATOR_URL = "https://open.tiktokapis.com/v2/post/publish/creator_info/query/"
SCOPES = "user.info.basic,video.publish"
_TITLE = "TikTok"


def _url(settings: Settings, url: str) -> str:
    return service_url(settings, "tiktok", url)


def _tokens(account: Account, body: dict[str, Any]) -> Account:
    now = time.time()
    refresh_in = body.get("refresh_expires_in")
    return dataclasses.replace(
        account,
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or account.refresh_token),
        expires_at=now + float(body.get("expires_in") or 7200),
        refresh_expires_at=now + float(refresh_in) if refresh_in else account.refresh_expires_at,
        scope=str(body.get("scope") or account.scope),
        uid=account.uid or str(body.get("open_id") or ""),
    )


def connect(
    settings: Settings,
    *,
    name: str,
    client_key: str,
    client_secret: str,
    port: int = 0,
    show: Callable[[str], None],
    timeout: float = 300.0,
) -> Account:
    """Sign in through the browser (desktop PKCE with a hex challenge); the account, not yet saved."""
    verifier, challenge = pkce(hex_challenge=True)
    state = new_state()
    with LoopbackReceiver(port=port, path="/callback/") as receiver:
        query = {
            "client_key": client_key,
            "scope": SCOPES,
            "response_type": "code",
            "redirect_uri": receiver.redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        show(_url(settings, AUTH_URL) + "?" + urlencode(query))
        answer = receiver.wait(timeout)
        code = check_state(answer, state, _TITLE, "tiktok")  # decoded once, as the docs ask
        form = {
            "client_key": client_key,
            "client_secret": client_secret,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": receiver.redirect_uri,
            "code_verifier": verifier,
        }
    with http_client(settings) as client:
        body = token_call(
            settings,
            client,
            "POST",
            _url(settings, TOKEN_URL),
            title=_TITLE,
            platform="tiktok",
            data=form,
            headers={"Cache-Control": "no-cache"},
        )
    if "video.publish" not in str(body.get("scope") or "").split(","):
        raise AccountError(
            f"the sign-in did not allow posting videos (granted: {body.get('scope') or 'nothing'}); "
            "connect again and allow posting, or ask TikTok to approve video.publish for the app",
            provider="tiktok",
        )
    account = _tokens(
        Account(
            platform="tiktok",
            name=name,
            client_id=client_key,
            client_secret=client_secret,
            setup="desktop",
            connected_at=time.time(),
        ),
        body,
    )
    try:
        info = creator_info(settings, account.access_token)
        account.label = str(info.get("creator_username") or info.get("creator_nickname") or "")
    except AccountError:  # a courtesy: the account works without its user name
        pass
    return account


def refresh(settings: Settings, account: Account) -> Account:
    """New tokens from the refresh token; the refresh token that comes back replaces the old one."""
    form = {
        "client_key": account.client_id,
        "client_secret": account.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": account.refresh_token,
    }
    body = refresh_grant(
        settings,
        _url(settings, TOKEN_URL),
        form,
        title=_TITLE,
        platform="tiktok",
        headers={"Cache-Control": "no-cache"},
        refused=f"TikTok no longer accepts the sign-in of TikTok account '{account.name}' (invalid_grant: "
        f"expired, revoked or already rotated); {reconnect_hint(account)}",
    )
    return _tokens(account, body)


def creator_info(settings: Settings, access_token: str) -> dict[str, Any]:
    """The creator's name and what they may post (`creator_info/query`, required before every post);
    judged by `error.code == "ok"`: TikTok answers `spam_risk_*` with HTTP 200."""
    with http_client(settings) as client:
        body = token_call(
            settings,
            client,
            "POST",
            _url(settings, CREATOR_URL),
            title=_TITLE,
            platform="tiktok",
            headers={
                "Authorization": f"Bearer {access_token}",
                "Content-Type": "application/json; charset=UTF-8",
            },
        )
    data = body.get("data")
    return data if isinstance(data, dict) else {}
