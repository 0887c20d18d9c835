"""Everything that reaches `fenta serve` from a client is untrusted input (docs: fenta.policy).

Two doors, one function each, so the policy is applied in exactly one place:

    load_untrusted(document, vars, settings)   every workflow the server loads (REST jobs, validate,
                                               estimate, schedules; MCP create_video, validate, estimate)
    check_webhook_url(url, settings)           every webhook receiver added over HTTP
"""

from __future__ import annotations

import json
from typing import Any

from ..config import Settings
from ..errors import FentaError, Problem, ServeError, SpecError
from ..policy import Policy

__all__ = ["load_untrusted", "untrusted_policy", "check_webhook_url", "WHERE"]

#: How problems name a document that came over HTTP (there is no file).
WHERE = "<request>"


def untrusted_policy(settings: Settings) -> Policy:
    """The policy of everything a client sends (the operator's FENTA_ALLOWED_DIRS and
    FENTA_ALLOW_PRIVATE_URLS still apply)."""
    return Policy.untrusted(settings)


def load_untrusted(document: Any, vars: dict[str, Any] | None, settings: Settings) -> Any:
    """Load and validate a workflow document sent by a client, under the untrusted policy (no local
    files outside FENTA_ALLOWED_DIRS; URLs fetched only from public addresses), so the job it makes
    keeps that policy.

    Raises:
        SpecError: every problem of the document, as `fenta validate` lists them.
    """
    from ..engine.spec import loads

    if not isinstance(document, dict):
        raise SpecError(
            [Problem("'workflow' must be a JSON object: the workflow document (either shape)", file=WHERE)]
        )
    if vars is not None and not isinstance(vars, dict):
        raise SpecError(
            [Problem("'vars' must be a JSON object of variable names to values", file=WHERE, field="vars")]
        )
    return loads(json.dumps(document), file=WHERE, vars=vars or None, policy=untrusted_policy(settings))


def check_webhook_url(url: str, settings: Settings) -> str:
    """Refuse a webhook receiver whose host is (or resolves to) a loopback, private, link-local or other
    non-public address unless the operator allowed its range (`FENTA_ALLOW_PRIVATE_URLS`): an API client
    must not make the server post into its own network. The endpoint is then added with the untrusted
    policy, so every delivery checks the address again and connects to the checked one.

    Raises:
        ServeError: 422, naming the address.
    """
    from ..ops.webhooks import check_url

    try:
        return check_url(url, untrusted_policy(settings))
    except FentaError as e:
        raise ServeError(
            e.message,
            status=422,
            title="Receiver not allowed",
            extra={"type": "untrusted-url", "field": "url"},
        ) from None
