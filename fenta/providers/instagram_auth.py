"""Signing in to Instagram for Reels, in either of Meta's two setups (publishing-contracts.md §3.1).

- **facebook** (the default, `--setup facebook`): "Instagram API with Facebook Login". A professional
  Instagram account linked to a Facebook Page. The only setup in which Meta documents uploading a local
  file (resumable upload to rupload.facebook.com), so a render goes up straight from this machine.
  Sign-in: Facebook's OAuth dialog; the code becomes a user token, exchanged for a long-lived one (about
  60 days); the Page linked to the Instagram account gives a Page token, which does not expire, and the
  Instagram user id (`instagram_business_account`). The Page token is what is stored.
- **instagram** (`--setup instagram`): "Instagram API with Instagram Login": no Facebook Page needed,
  but Meta documents only `video_url` (Meta fetches the video from a public HTTPS address) for it.
  Sign-in: Instagram's authorize page; a short-lived token is exchanged for a long-lived one (60 days),
  refreshed when it is at least a day old and expires within 30 days (Meta refuses younger tokens, and
  a token not refreshed within 60 days is dead).

Meta accepts only registered redirect URIs; `http://localhost:PORT/callback/` works where the app
registers it, otherwise `--redirect-uri` names the registered page and the user pastes the address the
browser ends on. `FENTA_INSTAGRAM_URL` replaces every Meta host used here (graph.facebook.com,
graph.instagram.com, api.instagram.com, www.facebook.com, www.instagram.com).
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
from .oauth import LoopbackReceiver, answer_of, check_state, http_client, new_state, token_call

__all__ = ["SETUPS", "GRAPH_VERSION", "graph_url", "connect", "refresh", "profile"]

SETUPS = ("facebook", "instagram")
GRAPH_VERSION = "v21.0"
FB_DIALOG = f"https://www.facebook.com/{GRAPH_VERSION}/dialog/oauth"
FB_GRAPH = "https://graph.facebook.com"
FB_SCOPES = "instagram_basic,instagram_content_publish,pages_read_engagement,pages_show_list"
IG_AUTHORIZE = "https://www.instagram.com/oauth/authorize"
IG_TOKEN = "https://api.instagram.com/oauth/access_token"
IG_GRAPH = "https://graph.instagram.com"
IG_SCOPES = "instagram_business_basic,instagram_business_content_publish"
#: An Instagram Login token is refreshed once it is a day old and expires within this many seconds.
REFRESH_WITHIN = 30 * 86400.0
_DAY = 86400.0


def graph_url(settings: Settings, setup: str, path: str) -> str:
    """A Graph API URL of the setup's host (graph.facebook.com or graph.instagram.com), versioned."""
    host = FB_GRAPH if setup == "facebook" else IG_GRAPH
    return service_url(settings, "instagram", f"{host}/{GRAPH_VERSION}/{path.lstrip('/')}")


def _call(settings: Settings, method: str, url: str, **kw: Any) -> dict[str, Any]:
    with http_client(settings) as client:
        return token_call(settings, client, method, url, title="Instagram", platform="instagram", **kw)


def _code(
    settings: Settings,
    url: str,
    query: dict[str, str],
    redirect_uri: str | None,
    port: int,
    show: Callable[[str], None],
    ask: Callable[[str], str],
    timeout: float,
) -> tuple[str, str]:
    """(code, redirect URI): through the loopback receiver, or a pasted address for a registered page."""
    state = new_state()
    if redirect_uri:
        show(
            service_url(settings, "instagram", url)
            + "?"
            + urlencode({**query, "redirect_uri": redirect_uri, "state": state})
        )
        answer = answer_of(ask("Paste the address your browser ended on"))
        return check_state(answer, state, "Instagram", "instagram").removesuffix("#_"), redirect_uri
    with LoopbackReceiver(port=port, path="/callback/", host="localhost") as receiver:
        show(
            service_url(settings, "instagram", url)
            + "?"
            + urlencode({**query, "redirect_uri": receiver.redirect_uri, "state": state})
        )
        code = check_state(receiver.wait(timeout), state, "Instagram", "instagram").removesuffix("#_")
        return code, receiver.redirect_uri


def connect(
    settings: Settings,
    *,
    name: str,
    app_id: str,
    app_secret: str,
    setup: str = "facebook",
    port: int = 0,
    redirect_uri: str | None = None,
    page: str | None = None,
    show: Callable[[str], None],
    ask: Callable[[str], str] = input,
    timeout: float = 300.0,
) -> Account:
    """Sign in with the setup's login; the account (not yet saved) with a long-lived token.

    Args:
        page: (facebook) The Facebook Page whose Instagram account to use, by name or id, when the user
            manages several.
        ask: Asks the user for the pasted redirect address (only with `redirect_uri`).
    """
    base = Account(
        platform="instagram",
        name=name,
        client_id=app_id,
        client_secret=app_secret,
        setup=setup,
        connected_at=time.time(),
    )
    if setup == "facebook":
        query = {"client_id": app_id, "response_type": "code", "scope": FB_SCOPES}
        code, used = _code(settings, FB_DIALOG, query, redirect_uri, port, show, ask, timeout)
        short = _call(
            settings,
            "GET",
            graph_url(settings, "facebook", "oauth/access_token"),
            params={"client_id": app_id, "client_secret": app_secret, "redirect_uri": used, "code": code},
        )
        long = _call(
            settings,
            "GET",
            graph_url(settings, "facebook", "oauth/access_token"),
            params={
                "grant_type": "fb_exchange_token",
                "client_id": app_id,
                "client_secret": app_secret,
                "fb_exchange_token": str(short["access_token"]),
            },
        )
        return _page_account(settings, base, str(long["access_token"]), page)
    query = {"client_id": app_id, "response_type": "code", "scope": IG_SCOPES}
    code, used = _code(settings, IG_AUTHORIZE, query, redirect_uri, port, show, ask, timeout)
    short = _call(
        settings,
        "POST",
        service_url(settings, "instagram", IG_TOKEN),
        data={
            "client_id": app_id,
            "client_secret": app_secret,
            "grant_type": "authorization_code",
            "redirect_uri": used,
            "code": code,
        },
    )
    first = (short.get("data") or [short])[0] if isinstance(short.get("data"), list) else short
    long = _call(
        settings,
        "GET",
        service_url(settings, "instagram", f"{IG_GRAPH}/access_token"),
        params={
            "grant_type": "ig_exchange_token",
            "client_secret": app_secret,
            "access_token": str(first["access_token"]),
        },
    )
    account = dataclasses.replace(
        base,
        access_token=str(long["access_token"]),
        uid=str(first.get("user_id") or ""),
        expires_at=time.time() + float(long.get("expires_in") or 60 * _DAY),
        scope=str(first.get("permissions") or IG_SCOPES),
    )
    me = profile(settings, account)
    account.uid = account.uid or str(me.get("user_id") or me.get("id") or "")
    account.label = str(me.get("username") or "")
    return account


def _page_account(settings: Settings, base: Account, user_token: str, page: str | None) -> Account:
    """The account of the Page linked to an Instagram professional account: its Page token (no expiry)."""
    pages = (
        _call(
            settings,
            "GET",
            graph_url(settings, "facebook", "me/accounts"),
            params={"fields": "id,name,access_token,instagram_business_account{id,username}"},
            headers={"Authorization": f"Bearer {user_token}"},
        ).get("data")
        or []
    )
    linked = [p for p in pages if isinstance(p, dict) and p.get("instagram_business_account")]
    if page:
        linked = [p for p in linked if page in (str(p.get("id")), str(p.get("name")))]
    if not linked:
        raise AccountError(
            "none of the Facebook Pages this sign-in manages"
            + (f" named '{page}'" if page else "")
            + " is linked to an Instagram professional account (link one in the Page's settings)",
            provider="instagram",
        )
    if len(linked) > 1:
        names = ", ".join(f"'{p.get('name')}'" for p in linked)
        raise AccountError(
            f"several Pages have an Instagram account ({names}): choose one with --page", provider="instagram"
        )
    chosen = linked[0]
    ig = chosen["instagram_business_account"]
    return dataclasses.replace(
        base,
        access_token=str(chosen.get("access_token") or user_token),
        expires_at=None,
        uid=str(ig.get("id") or ""),
        label=str(ig.get("username") or chosen.get("name") or ""),
        scope=FB_SCOPES,
    )


def refresh(settings: Settings, account: Account) -> Account:
    """An Instagram Login token, refreshed once it is a day old (Meta refuses younger ones); a Page token
    (facebook) cannot be, and need not be: one the service refuses means connecting again."""
    if account.setup != "instagram":
        raise AccountError(
            f"Instagram no longer accepts the token of account '{account.name}'; {reconnect_hint(account)}",
            provider="instagram",
            code="invalid_grant",
        )
    age = time.time() - (account.refreshed_at or account.connected_at or 0)
    if age < _DAY and account.access_token and (account.expires_at or 0) > time.time():
        return account  # good for weeks yet; Meta would refuse to refresh it today
    try:
        body = _call(
            settings,
            "GET",
            service_url(settings, "instagram", f"{IG_GRAPH}/refresh_access_token"),
            params={"grant_type": "ig_refresh_token", "access_token": account.access_token},
        )
    except AccountError as e:
        if e.status is None or e.status >= 500:
            raise
        raise AccountError(
            f"Instagram no longer accepts the token of account '{account.name}' ({e.code}); "
            f"{reconnect_hint(account)}",
            provider="instagram",
            code="invalid_grant",
        ) from None
    return dataclasses.replace(
        account,
        access_token=str(body["access_token"]),
        expires_at=time.time() + float(body.get("expires_in") or 60 * _DAY),
    )


def profile(settings: Settings, account: Account) -> dict[str, Any]:
    """The account's user name and id (one Graph call), for `fenta accounts test`."""
    path = f"{account.uid}" if account.setup == "facebook" and account.uid else "me"
    fields = "id,username" if account.setup == "facebook" else "user_id,username"
    return _call(
        settings,
        "GET",
        graph_url(settings, account.setup or "facebook", path),
        params={"fields": fields},
        headers={"Authorization": f"Bearer {account.access_token}"},
    )
