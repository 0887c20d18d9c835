"""Keeping a publishing account's tokens fresh.

Access tokens are refreshed shortly before they expire, under a lock per account (across processes), so
two processes never spend one refresh token twice: TikTok rotates them, and the old one dies once a new
one is issued. The newest tokens are written (`AccountStore.save`, atomically) before anything uses
them; for an environment account too, whose rotated token is kept under FENTA_HOME tied to the
variable's value it descends from. A refresh the service refuses with `invalid_grant` is one line
telling the user to connect again (each platform's `refresh`: `google`, `tiktok_auth`, `instagram_auth`).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable

from ..config import Settings
from .accounts import ENV_NAME, Account, AccountStore

__all__ = ["MARGIN", "fresh", "Credentials"]

#: Refresh an access token that expires within this many seconds (an upload outlives a few minutes).
MARGIN = 300.0
#: Platforms whose tokens are refreshed earlier: an Instagram Login token that is not refreshed within its
#: 60 days is dead, so it is refreshed (at most daily) once it expires within 30 days.
_MARGINS = {"instagram": 30 * 86400.0}
#: The module of each platform that refreshes its tokens (`refresh(settings, account) -> Account`).
_REFRESHERS = {"youtube": "google", "tiktok": "tiktok_auth", "instagram": "instagram_auth"}


def _expiring(account: Account, margin: float) -> bool:
    if not account.access_token:
        return True
    return account.expires_at is not None and account.expires_at - time.time() <= margin


def fresh(
    settings: Settings, account: Account, *, force: bool = False, margin: float | None = None
) -> Account:
    """The account with an access token good for at least `margin` seconds: refreshed (under the
    account's lock, the newest tokens written before they are returned) when it is not, or when
    `force` (the service refused the token it has).

    Raises:
        AccountError: the service refused the refresh (`invalid_grant`: connect again) or the
            account cannot be refreshed.
    """
    margin = _MARGINS.get(account.platform, MARGIN) if margin is None else margin
    if not force and not _expiring(account, margin):
        return account
    store = AccountStore(settings)
    stored_name = ENV_NAME if account.source == "env" else account.name
    with store.lock(account.platform, stored_name):
        current = store.get(account.platform, stored_name)
        if current is not None and (account.source != "env" or current.origin == account.origin):
            current.source = account.source
            # Another process refreshed it meanwhile: use theirs (never spend a refresh token twice).
            changed = current.access_token and current.access_token != account.access_token
            if (changed or not force) and not _expiring(current, margin):
                return current
            account = current
        platform = importlib.import_module(f".{_REFRESHERS[account.platform]}", __package__)
        refresh: Callable[[Settings, Account], Account] = platform.refresh
        renewed = refresh(settings, account)
        if renewed.access_token == account.access_token and renewed.refresh_token == account.refresh_token:
            return renewed  # nothing new (a token the service will not refresh yet)
        renewed.refreshed_at = time.time()
        if renewed.source == "env":
            renewed.name = ENV_NAME
        store.save(renewed)
        return renewed


class Credentials:
    """An account's access token for a running upload: fresh before the first request, refreshed when
    the service refuses it (`renew`), never blocking the event loop (files and locks in a thread)."""

    def __init__(self, settings: Settings, account: Account) -> None:
        self.settings = settings
        self.account = account

    async def token(self) -> str:
        self.account = await asyncio.to_thread(fresh, self.settings, self.account)
        return self.account.access_token

    async def renew(self) -> str:
        self.account = await asyncio.to_thread(fresh, self.settings, self.account, force=True)
        return self.account.access_token
