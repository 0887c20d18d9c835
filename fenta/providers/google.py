"""Signing in to YouTube with Google's OAuth 2.0 for installed apps, and keeping the tokens fresh.

Two flows (publishing-contracts.md §1.3, §1.4):

- **loopback + PKCE** (the default): the browser opens Google's consent page for the narrow
  `youtube.upload` scope ("Manage your YouTube videos"); Google redirects to a one-request server on
  127.0.0.1 with the code, exchanged with the PKCE verifier and the client secret (always sent: some
  Desktop clients are refused without it).
- **device** (`--device`, a machine without a browser): a code to type at google.com/device. Google's
  device flow does not allow `youtube.upload`, so it asks for the broader `youtube` scope ("Manage your
  YouTube account"). Polled at the interval Google gives; `authorization_pending` (428) waits,
  `slow_down` (403) adds 5 s to the interval for this and every later poll (RFC 8628).

Refreshes return no new refresh token (the old one is kept); a dead one (`invalid_grant`) means
connecting again. Hosts: `FENTA_GOOGLE_OAUTH_URL` replaces accounts.google.com and
oauth2.googleapis.com; `FENTA_YOUTUBE_URL` the Data API's www.googleapis.com.
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

__all__ = [
    "SCOPE_UPLOAD",
    "SCOPE_YOUTUBE",
    "connect_loopback",
    "connect_device",
    "refresh",
    "channel",
    "TESTING_HINT",
]

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"
DEVICE_URL = "https://oauth2.googleapis.com/device/code"
CHANNELS_URL = "https://www.googleapis.com/youtube/v3/channels"
SCOPE_UPLOAD = "https://www.googleapis.com/auth/youtube.upload"
SCOPE_YOUTUBE = "https://www.googleapis.com/auth/youtube"
#: Scopes `videos.insert` accepts (the token's granted scope must hold one).
_UPLOAD_SCOPES = (
    SCOPE_UPLOAD,
    SCOPE_YOUTUBE,
    "https://www.googleapis.com/auth/youtube.force-ssl",
    "https://www.googleapis.com/auth/youtubepartner",
)
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Why a refresh token dies after a week, said when Google refuses one.
TESTING_HINT = (
    "a Google OAuth app in Testing status gets refresh tokens that last 7 days: publish the app "
    "(OAuth consent screen) to keep them"
)
_TITLE = "Google"


def _url(settings: Settings, url: str) -> str:
    return service_url(settings, "google_oauth", url)


def _granted(body: dict[str, Any]) -> str:
    scope = str(body.get("scope") or "")
    if not any(s in scope.split() for s in _UPLOAD_SCOPES):
        raise AccountError(
            "the sign-in did not allow uploading videos (granted: "
            f'{scope or "nothing"}); connect again and leave "Manage your YouTube videos" ticked',
            provider="youtube",
        )
    return scope


def _account(
    settings: Settings, body: dict[str, Any], *, name: str, client_id: str, client_secret: str, setup: str
) -> Account:
    scope = _granted(body)
    if not body.get("refresh_token"):
        raise AccountError(
            "Google sent no refresh token; nothing was stored (run the command again)", provider="youtube"
        )
    account = Account(
        platform="youtube",
        name=name,
        client_id=client_id,
        client_secret=client_secret,
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]),
        expires_at=time.time() + float(body.get("expires_in") or 3600),
        scope=scope,
        setup=setup,
        connected_at=time.time(),
    )
    try:
        account.uid, account.label = channel(settings, account.access_token)
    except AccountError:  # the channel is a courtesy: the account works without knowing its title
        pass
    return account


def connect_loopback(
    settings: Settings,
    *,
    name: str,
    client_id: str,
    client_secret: str,
    port: int = 0,
    show: Callable[[str], None],
    timeout: float = 300.0,
) -> Account:
    """Sign in through the browser (loopback + PKCE) for `youtube.upload`; the account, not yet saved.

    Args:
        show: Called with the consent page's URL (the CLI opens it and prints it).
    """
    verifier, challenge = pkce()
    state = new_state()
    with LoopbackReceiver(port=port, path="/") as receiver:
        query = {
            "client_id": client_id,
            "redirect_uri": receiver.redirect_uri,
            "response_type": "code",
            "scope": SCOPE_UPLOAD,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
        show(_url(settings, AUTH_URL) + "?" + urlencode(query))
        code = check_state(receiver.wait(timeout), state, _TITLE, "youtube")
        form = {
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "code_verifier": verifier,
            "grant_type": "authorization_code",
            "redirect_uri": receiver.redirect_uri,
        }
    with http_client(settings) as client:
        body = token_call(
            settings, client, "POST", _url(settings, TOKEN_URL), title=_TITLE, platform="youtube", data=form
        )
    return _account(
        settings, body, name=name, client_id=client_id, client_secret=client_secret, setup="loopback"
    )


def connect_device(
    settings: Settings,
    *,
    name: str,
    client_id: str,
    client_secret: str,
    show: Callable[[str, str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Account:
    """Sign in with a code typed on another device, for the broader `youtube` scope (the device flow does
    not allow `youtube.upload`); the account, not yet saved.

    Args:
        show: Called with (verification URL, user code) for the user to act on.
    """
    with http_client(settings) as client:
        grant = token_call(
            settings,
            client,
            "POST",
            _url(settings, DEVICE_URL),
            title=_TITLE,
            platform="youtube",
            data={"client_id": client_id, "scope": SCOPE_YOUTUBE},
        )
        show(
            str(grant.get("verification_url") or grant.get("verification_uri") or ""),
            str(grant.get("user_code") or ""),
        )
        interval = float(grant.get("interval") or 5)
        deadline = time.monotonic() + float(grant.get("expires_in") or 1800)
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "device_code": str(grant.get("device_code")),
            "grant_type": _DEVICE_GRANT,
        }
        while True:
            sleep(interval * settings.backoff_scale)
            if time.monotonic() > deadline:
                raise AccountError(
                    "the code expired before it was entered; run the command again", provider="youtube"
                )
            try:
                body = token_call(
                    settings,
                    client,
                    "POST",
                    _url(settings, TOKEN_URL),
                    title=_TITLE,
                    platform="youtube",
                    data=form,
                )
            except AccountError as e:
                if e.code == "authorization_pending":
                    continue
                if e.code == "slow_down":
                    interval += 5
                    continue
                if e.code == "access_denied":
                    raise AccountError(
                        "the sign-in was refused on the device page; nothing was stored",
                        provider="youtube",
                        code=e.code,
                    ) from None
                if e.code in ("expired_token", "invalid_grant"):
                    raise AccountError(
                        "the code expired before it was entered; run the command again",
                        provider="youtube",
                        code=e.code,
                    ) from None
                raise
            return _account(
                settings, body, name=name, client_id=client_id, client_secret=client_secret, setup="device"
            )


def refresh(settings: Settings, account: Account) -> Account:
    """A new access token from the account's refresh token (Google keeps the refresh token: the answer
    normally has none, and the old one is kept)."""
    form = {
        "client_id": account.client_id,
        "client_secret": account.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": account.refresh_token,
    }
    body = refresh_grant(
        settings,
        _url(settings, TOKEN_URL),
        form,
        title=_TITLE,
        platform="youtube",
        refused=f"Google no longer accepts the sign-in of YouTube account '{account.name}' (invalid_grant: "
        f"expired or revoked; {TESTING_HINT}); {reconnect_hint(account)}",
    )
    return dataclasses.replace(
        account,
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or account.refresh_token),
        expires_at=time.time() + float(body.get("expires_in") or 3600),
        scope=str(body.get("scope") or account.scope),
    )


def channel(settings: Settings, access_token: str) -> tuple[str, str]:
    """(channel id, title) of the signed-in user's channel (`channels.list?mine=true`, 1 quota unit)."""
    with http_client(settings) as client:
        body = token_call(
            settings,
            client,
            "GET",
            service_url(settings, "youtube", CHANNELS_URL),
            title="YouTube",
            platform="youtube",
            params={"part": "snippet", "mine": "true"},
            headers={"Authorization": f"Bearer {access_token}"},
        )
    items = body.get("items") or []
    if not items:
        raise AccountError(
            "this Google account has no YouTube channel yet: create one at youtube.com, then connect again",
            provider="youtube",
        )
    first = items[0]
    return str(first.get("id") or ""), str((first.get("snippet") or {}).get("title") or "")
