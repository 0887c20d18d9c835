"""Everything that reaches `fenta serve` from a client is untrusted input (docs: fenta.policy).

Two doors, one function each, so the policy is applied in exactly one place:

    load_untrusted(document, vars, settings)   every workflow the server loads (REST jobs, validate,
                                               estimate, schedules; MCP create_video, validate, estimate)
    check_webhook_url(url, settings)           every webhook receiver added over HTTP
"""

from __future__ import annotations

import inspect
import ipaddress
import json
from typing import Any

from ..config import Settings
from ..errors import Problem, ServeError, SpecError
from ..policy import Policy

__all__ = ["load_untrusted", "enforces_policy", "check_webhook_url", "WHERE"]

#: How problems name a document that came over HTTP (there is no file).
WHERE = "<request>"


def enforces_policy() -> bool:
    """Whether the workflow loader takes a trust policy yet (issue 22's branch adds `policy=`)."""
    from ..engine.spec import loads

    return "policy" in inspect.signature(loads).parameters


def load_untrusted(document: Any, vars: dict[str, Any] | None, settings: Settings) -> Any:
    """Load and validate a workflow document sent by a client, under the untrusted policy (no local
    files outside FENTA_ALLOWED_DIRS, no private addresses), so the job it makes keeps that policy.

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
    text = json.dumps(document)
    policy = Policy.untrusted(settings)
    if enforces_policy():
        return loads(text, file=WHERE, vars=vars or None, policy=policy)  # type: ignore[call-arg]
    # TODO(issue 22, the policy branch): `fenta.engine.spec.loads` takes `policy=` once that branch is
    # merged, and the branch above becomes the only path: `loads(text, file=WHERE, vars=..., policy=policy)`.
    # Until then a document naming a local file is NOT refused here (tests/serve/test_untrusted.py is
    # skipped with "needs the policy branch").
    return loads(text, file=WHERE, vars=vars or None)


def check_webhook_url(url: str, settings: Settings) -> str:
    """Refuse a webhook receiver on a loopback, private, link-local or unspecified address unless the
    operator allowed its range (`FENTA_ALLOW_PRIVATE_URLS`): an API client must not make the server post
    into its own network.

    TODO(issue 22, the network branch): replace the literal-address check below with the guarded fetch's
    own check (it also resolves host names and pins the address); this function stays the one hook.

    Raises:
        ServeError: 422, naming the address.
    """
    import httpx

    try:
        host = httpx.URL(url).host
    except Exception:
        host = ""
    if not host:
        return url  # fenta.ops.webhooks.add_endpoint refuses it with its own message
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        address = ipaddress.ip_address("127.0.0.1")
    else:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return url
    if not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
    ):
        return url
    if any(address in net for net in settings.allowed_networks):
        return url
    raise ServeError(
        f"webhook receiver {host} is a loopback, private or link-local address: a receiver added over the "
        "API must be "
        "public (the operator can allow ranges with FENTA_ALLOW_PRIVATE_URLS)",
        status=422,
        title="Receiver not allowed",
        extra={"type": "untrusted-url", "field": "url"},
    )
