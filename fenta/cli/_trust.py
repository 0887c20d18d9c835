"""`--untrusted`: the flag of the commands that load a workflow (run, submit, validate, batch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..policy import Policy

#: The help of `--untrusted`.
UNTRUSTED_HELP = (
    "Treat the workflow and its variables as someone else's (a manifest from a pull request): a local "
    "file they name (params, @file variables, a template file, a logo) must lie inside FENTA_ALLOWED_DIRS, "
    "else it is refused before it is opened (exit 2). The job keeps this for retries and resumes. "
    "See docs/security.md."
)


def policy_for(untrusted: bool) -> Policy:
    """The policy `--untrusted` asks for (with the operator's FENTA_ALLOWED_DIRS), or the local user's."""
    from ..config import Settings
    from ..policy import Policy

    return Policy.for_trust(not untrusted, Settings.from_env())
