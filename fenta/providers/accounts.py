"""Publishing accounts: whom fenta posts as on YouTube, TikTok and Instagram, where they are kept,
and which one a publish node gets.

An account is connected once (`fenta accounts connect youtube [--name NAME]`) and stored as one JSON
file, `FENTA_HOME/accounts/{platform}/{name}.json`, readable by its owner only (0600 in a 0700 folder)
and written under a temporary name then renamed, so a crash never leaves half a token. For CI an
account can come entirely from environment variables (`fenta.config.PUBLISH_ENV`); it is the one a
node that names no account uses. Untrusted workflows get only the account the operator allows
(`FENTA_PUBLISH_ACCOUNTS`). Every token read is added to what `Settings.redact` hides in this process
(`fenta.config.hide`). Keeping tokens fresh is `fenta.providers.tokens`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock

from ..config import PUBLISH_ENV, Settings, hide
from ..errors import AccountError
from ..policy import Policy

__all__ = [
    "PLATFORMS",
    "TITLES",
    "DEFAULT_NAME",
    "ENV_NAME",
    "Account",
    "AccountStore",
    "service_url",
    "check_name",
    "NAME_PATTERN",
    "env_account",
    "resolve",
    "reconnect_hint",
]

PLATFORMS = ("youtube", "tiktok", "instagram")
TITLES = {"youtube": "YouTube", "tiktok": "TikTok", "instagram": "Instagram"}
#: The name `fenta accounts connect PLATFORM` gives when `--name` is not given.
DEFAULT_NAME = "default"
#: The name of the account the environment variables describe (reserved: never a connected one's).
ENV_NAME = "env"

#: What an account name may be (it names a file): 1-64 letters, digits, `_` and `-`.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


def service_url(settings: Settings, service: str, url: str) -> str:
    """`url` of a publishing service, its scheme and host replaced by the redirect set for `service`
    (`FENTA_YOUTUBE_URL`, ...; see `fenta.config.PUBLISH_URL_VARS`), its path and query kept."""
    base = settings.publish_urls.get(service)
    if not base:
        return url
    parts = urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def check_name(name: str, *, field: str = "--name") -> str:
    """An account name: 1-64 letters, digits, `_` and `-` (it names a file), never the reserved `env`."""
    if not _NAME.match(name or ""):
        raise AccountError(
            f"'{name}' is not an account name: use 1-64 letters, digits, _ and -",
            provider="accounts",
            field=field,
        )
    if name == ENV_NAME:
        raise AccountError(
            f"'{ENV_NAME}' is the account the environment variables describe; choose another name",
            provider="accounts",
            field=field,
        )
    return name


@dataclass
class Account:
    """One publishing account: its client credentials, its tokens and who it is.

    Attributes:
        uid: Who the account is at the service (a YouTube channel id, a TikTok open_id, an Instagram
            user id), learnt when it was connected; part of a publish node's cache key.
        label: What people call it (the channel's title, the user name), for `fenta accounts list`.
        setup: How it was connected: `loopback` or `device` (YouTube), `facebook` or `instagram`
            (Instagram: which login, see `fenta.providers.instagram_auth`).
        source: `file` (connected, under FENTA_HOME) or `env` (environment variables).
        origin: For an environment account's rotated tokens: a hash of the variable they descend from.
    """

    platform: str
    name: str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float | None = None
    refresh_expires_at: float | None = None
    scope: str = ""
    uid: str = ""
    label: str = ""
    setup: str = ""
    connected_at: float = 0.0
    refreshed_at: float | None = None
    source: str = "file"
    origin: str = ""

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Account:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_stored(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def title(self) -> str:
        return TITLES.get(self.platform, self.platform)

    def identity(self) -> str:
        """Who posts, stably: the service's id for the account, else its name and client."""
        return f"{self.platform}:{self.uid}" if self.uid else f"{self.platform}:{self.name}:{self.client_id}"

    def public(self) -> dict[str, Any]:
        """What `fenta accounts show` prints: everything but the secrets (which it says are there)."""
        out = {
            k: v
            for k, v in self.to_stored().items()
            if k not in ("client_secret", "access_token", "refresh_token", "origin")
        }
        out["has_refresh_token"] = bool(self.refresh_token)
        out["has_access_token"] = bool(self.access_token)
        return out


class AccountStore:
    """The accounts under `FENTA_HOME/accounts` (one 0600 JSON file each), plus the environment's."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.home / "accounts"

    def path(self, platform: str, name: str) -> Path:
        return self.root / platform / f"{name}.json"

    def _folder(self, platform: str) -> Path:
        folder = self.root / platform
        folder.mkdir(parents=True, exist_ok=True)
        for f in (self.root, folder):
            os.chmod(f, 0o700)
        return folder

    def lock(self, platform: str, name: str) -> FileLock:
        """The lock held while an account's tokens are refreshed or replaced (across processes)."""
        return FileLock(str(self._folder(platform) / f".{name}.lock"), timeout=120)

    def names(self, platform: str) -> list[str]:
        folder = self.root / platform
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.json") if p.stem != ENV_NAME)

    def get(self, platform: str, name: str) -> Account | None:
        path = self.path(platform, name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise AccountError(
                f"{path} cannot be read ({type(e).__name__}); connect the account again", provider=platform
            ) from None
        account = Account.from_stored(data)
        hide(account.client_secret, account.access_token, account.refresh_token)
        return account

    def save(self, account: Account) -> None:
        """Write the account atomically: a 0600 temporary file in the same folder, fsync, rename."""
        folder = self._folder(account.platform)
        hide(account.client_secret, account.access_token, account.refresh_token)
        fd, tmp = tempfile.mkstemp(prefix=f".{account.name}.", suffix=".tmp", dir=folder)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(account.to_stored(), fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(account.platform, account.name))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, platform: str, name: str) -> bool:
        path = self.path(platform, name)
        if not path.exists():
            return False
        path.unlink()
        return True

    def all(self) -> list[Account]:
        """Every account: the environment's first (per platform), then the connected ones by name."""
        out: list[Account] = []
        for platform in PLATFORMS:
            env = env_account(self.settings, platform, self, strict=False)
            if env is not None:
                out.append(env)
            out += [a for n in self.names(platform) if (a := self.get(platform, n)) is not None]
        return out


def _origin(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def env_account(
    settings: Settings, platform: str, store: AccountStore | None = None, *, strict: bool = True
) -> Account | None:
    """The account the environment variables describe (None when its token variable is not set:
    FENTA_YOUTUBE_REFRESH_TOKEN, FENTA_TIKTOK_REFRESH_TOKEN, FENTA_INSTAGRAM_ACCESS_TOKEN).

    Raises:
        AccountError: (`strict`) the token is set but not everything else it needs.
    """
    values = settings.publish_env.get(platform) or {}
    token_field = "access_token" if platform == "instagram" else "refresh_token"
    if not values.get(token_field):  # the app's id and secret alone are for `fenta accounts connect`
        return None
    needed = (
        ("access_token", "user_id")
        if platform == "instagram"
        else ("client_id", "client_secret", "refresh_token")
    )
    missing = [PUBLISH_ENV[platform][f] for f in needed if not values.get(f)]
    if missing:
        if not strict:
            return None
        raise AccountError(
            f"{', '.join(missing)} not set (the {TITLES[platform]} account from the environment "
            "needs them all)",
            provider=platform,
        )
    account = Account(
        platform=platform,
        name=ENV_NAME,
        client_id=values.get("client_id", ""),
        client_secret=values.get("client_secret", ""),
        refresh_token=values.get("refresh_token", ""),
        access_token=values.get("access_token", ""),
        uid=values.get("user_id", ""),
        setup=values.get("setup", "facebook" if platform == "instagram" else ""),
        source="env",
    )
    account.origin = _origin(account.refresh_token or account.access_token)
    # Tokens rotated since the variable was set live under FENTA_HOME, tied to the value they came from.
    kept = (store or AccountStore(settings)).get(platform, ENV_NAME)
    if kept is not None and kept.origin == account.origin:
        kept.source = "env"
        return kept
    return account


def reconnect_hint(account: Account) -> str:
    """What to run when the service no longer accepts an account's sign-in."""
    if account.source == "env":
        fields_ = PUBLISH_ENV[account.platform]
        var = fields_.get("refresh_token") or fields_["access_token"]
        return (
            f"set a new {var} (connect with `fenta accounts connect {account.platform}`, then "
            f"`fenta accounts show {account.platform} --env` prints it)"
        )
    return f"connect it again: fenta accounts connect {account.platform} --name {account.name}"


def resolve(settings: Settings, platform: str, name: str | None, policy: Policy) -> Account:
    """The account a publish node posts with.

    Trusted workflows: `name` when given ("env" is the environment's account), else the environment's
    account when its variables are set, else the connected account named "default", else the only one
    connected. Untrusted workflows never choose: they get the account the operator allows for the
    platform (`FENTA_PUBLISH_ACCOUNTS`), and naming one is refused.

    Raises:
        AccountError: no such account, none connected, several and none named, or one the policy refuses.
    """
    title = TITLES[platform]
    if not policy.trusted:
        if name:
            raise AccountError(
                "an untrusted workflow may not choose the publishing account; the operator's "
                f"{title} account is used (FENTA_PUBLISH_ACCOUNTS)",
                provider=platform,
                field="params.account",
            )
        allowed = policy.publish_account(platform)
        current = Policy(trusted=False, publish_accounts=settings.publish_accounts).publish_account(platform)
        if allowed is None or current != allowed:
            raise AccountError(
                f"the operator allows untrusted workflows no {title} account (FENTA_PUBLISH_ACCOUNTS)",
                provider=platform,
                field="params.account",
            )
        name = allowed or None
    store = AccountStore(settings)
    if name == ENV_NAME:
        env = env_account(settings, platform, store)
        if env is None:
            raise AccountError(
                f"no {title} account in the environment ({', '.join(PUBLISH_ENV[platform].values())})",
                provider=platform,
                field="params.account",
            )
        return env
    if name:
        found = store.get(platform, check_name(name, field="params.account"))
        if found is None:
            known = ", ".join(store.names(platform)) or "none"
            raise AccountError(
                f"no {title} account named '{name}' (connected: {known}); connect it: "
                f"fenta accounts connect {platform} --name {name}",
                provider=platform,
                field="params.account",
            )
        return found
    env = env_account(settings, platform, store)
    if env is not None:
        return env
    names = store.names(platform)
    if DEFAULT_NAME in names or len(names) == 1:
        found = store.get(platform, DEFAULT_NAME if DEFAULT_NAME in names else names[0])
        if found is not None:
            return found
    if not names:
        raise AccountError(
            f"no {title} account connected: run `fenta accounts connect {platform}` (or set "
            f"{', '.join(PUBLISH_ENV[platform].values())} for CI)",
            provider=platform,
            field="params.account",
        )
    raise AccountError(
        f"several {title} accounts are connected ({', '.join(names)}): name one in params.account",
        provider=platform,
        field="params.account",
    )
