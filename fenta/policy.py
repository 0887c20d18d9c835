"""Who a workflow came from, and so what it may reach: the trust policy.

Trust is decided by where input arrives from, not by where the code runs (docs/security.md):

- **trusted**: the local user at the CLI or in a Python script, their files, their `.env`, their network.
- **untrusted**: hosted rows (`fenta worker --hosted`), anything arriving over HTTP, batch rows run with
  `--untrusted`, and every URL and name that arrives with them.

An untrusted workflow names no local file unless it resolves (symlinks resolved) inside a folder the
operator allowed (`FENTA_ALLOWED_DIRS`), and fetches no loopback, private, link-local or metadata address
unless the operator allowed its range (`FENTA_ALLOW_PRIVATE_URLS`). A `Policy` travels with a loaded
`Workflow` and is stored with its job, so a retry, a resume or another worker applies the same one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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
    """

    trusted: bool = True
    allowed_dirs: tuple[Path, ...] = field(default=())
    allowed_networks: tuple[Network, ...] = field(default=())

    @classmethod
    def untrusted(cls, settings: Settings) -> Policy:
        """The policy for input from someone else, with the operator's exceptions from `settings`."""
        return cls(trusted=False, allowed_dirs=settings.allowed_dirs, allowed_networks=settings.allowed_networks)

    @classmethod
    def for_trust(cls, trusted: bool, settings: Settings) -> Policy:
        """`TRUSTED`, or `untrusted(settings)`."""
        return TRUSTED if trusted else cls.untrusted(settings)

    def file_problem(self, path: Path) -> str | None:
        """Why this policy may not open `path` (None: it may).

        The path is resolved first (symlinks followed, `..` collapsed), so a link inside an allowed
        folder that points outside it is refused like the place it points to.
        """
        if self.trusted:
            return None
        real = Path(os.path.realpath(path))
        for folder in self.allowed_dirs:
            if real == folder or folder in real.parents:
                return None
        if not self.allowed_dirs:
            return "an untrusted workflow may not name local files (the operator allows none: FENTA_ALLOWED_DIRS)"
        return "an untrusted workflow may name local files only inside FENTA_ALLOWED_DIRS, and this one is outside them"


#: The local user's policy: every file and address they can reach themselves.
TRUSTED = Policy()
