"""Who a workflow came from, and so what it may reach: the trust policy.

Trust is decided by where input arrives from, not by where the code runs (docs/security.md):

- **trusted**: the local user at the CLI or in a Python script, their files, their `.env`, their network.
- **untrusted**: hosted rows (`fenta worker --hosted`), anything arriving over HTTP, batch rows run with
  `--untrusted`, and every URL and name that arrives with them.

An untrusted workflow names no local file unless it resolves (symlinks resolved) inside a folder the
operator allowed (`FENTA_ALLOWED_DIRS`), and fetches no loopback, private, link-local or metadata address
unless the operator allowed its range (`FENTA_ALLOW_PRIVATE_URLS`), and publishes only with the accounts
the operator allows (`FENTA_PUBLISH_ACCOUNTS`), never one the document names. A `Policy` travels with a loaded
`Workflow` and is stored with its job, so a retry, a resume or another worker applies the same one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["Policy", "Network", "TRUSTED"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Policy:
    """What a workflow may reach.

    Attributes:
        trusted: The local user's own workflow (True), or one from someone else (False).
        allowed_dirs: Folders an untrusted workflow may still name files in (`FENTA_ALLOWED_DIRS`,
            resolved); empty means none.
        allowed_networks: Address ranges an untrusted workflow's URLs may still reach although they are
            loopback, private or link-local (`FENTA_ALLOW_PRIVATE_URLS`); empty means none.
        publish_accounts: The publishing accounts an untrusted workflow's publish nodes use
            (`FENTA_PUBLISH_ACCOUNTS`: `youtube` for the platform's default account, `youtube:NAME` for
            a connected one); a platform not listed may not be published to. Empty means none.
    """

    trusted: bool = True
    allowed_dirs: tuple[Path, ...] = field(default=())
    allowed_networks: tuple[Network, ...] = field(default=())
    publish_accounts: tuple[str, ...] = field(default=())

    @classmethod
    def untrusted(cls, settings: Settings) -> Policy:
        """The policy for input from someone else, with the operator's exceptions from `settings`."""
        return cls(
            trusted=False,
            allowed_dirs=settings.allowed_dirs,
            allowed_networks=settings.allowed_networks,
            publish_accounts=settings.publish_accounts,
        )

    @classmethod
    def for_trust(cls, trusted: bool, settings: Settings) -> Policy:
        """`TRUSTED`, or `untrusted(settings)`."""
        return TRUSTED if trusted else cls.untrusted(settings)

    def to_stored(self) -> dict[str, Any]:
        """The policy as JSON values, kept in a job's `options` (and a batch's) so every later attempt,
        resume and worker applies the one it was validated under."""
        return {
            "trusted": self.trusted,
            "allowed_dirs": [str(d) for d in self.allowed_dirs],
            "allowed_networks": [str(n) for n in self.allowed_networks],
            "publish_accounts": list(self.publish_accounts),
        }

    @classmethod
    def from_stored(cls, value: Any) -> Policy:
        """The policy `to_stored` wrote; None (a job stored before policies existed, always the local
        user's) is `TRUSTED`. Anything else that does not read back is untrusted with no exceptions:
        a damaged value never widens what a job may reach."""
        if value is None:
            return TRUSTED
        try:
            if value["trusted"] is True:
                return TRUSTED
            dirs = tuple(Path(os.path.realpath(d)) for d in value.get("allowed_dirs") or ())
            nets = tuple(ipaddress.ip_network(n, strict=False) for n in value.get("allowed_networks") or ())
            accounts = tuple(str(a) for a in value.get("publish_accounts") or ())
            return cls(trusted=False, allowed_dirs=dirs, allowed_networks=nets, publish_accounts=accounts)
        except (TypeError, KeyError, ValueError, AttributeError):
            return cls(trusted=False)

    def publish_account(self, platform: str) -> str | None:
        """The account an untrusted workflow publishes to `platform` with: "" for the platform's
        default account, a name for a connected one, None when the operator allows none."""
        for entry in self.publish_accounts:
            name, _, account = entry.partition(":")
            if name.strip().lower() == platform:
                return account.strip()
        return None

    def file_problem(self, path: str | os.PathLike[str]) -> str | None:
        """Why this policy may not open `path` (None: it may).

        The path is resolved first (symlinks followed, `..` collapsed), so a link inside an allowed
        folder that points outside it is refused like the place it points to. Nothing is opened and
        the answer does not depend on whether the file exists, so it tells an untrusted caller nothing
        about this machine's files.
        """
        if self.trusted:
            return None
        try:
            real = Path(os.path.realpath(path))  # as it will be opened: `~` is the caller's to expand
        except (OSError, ValueError):  # a NUL byte, a name too long: not a file anyone may name
            real = None
        for folder in self.allowed_dirs:
            if real is not None and (real == folder or folder in real.parents):
                return None
        if not self.allowed_dirs:
            return (
                "an untrusted workflow may not name local files "
                "(the operator allows none: FENTA_ALLOWED_DIRS)"
            )
        return (
            "an untrusted workflow may name local files only inside FENTA_ALLOWED_DIRS, "
            "and this one is outside them"
        )


#: The local user's policy: every file and address they can reach themselves.
TRUSTED = Policy()
