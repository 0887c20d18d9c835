"""Webhook signing, Standard Webhooks v1: endpoint secrets, the signature, the message id and the body.

`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the base64 bytes after
`whsec_` in the endpoint's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
import time
from typing import Any

from ...errors import WebhookError

__all__ = ["generate_secret", "check_secret", "sign", "signed_headers", "message_id", "body_for", "iso_time"]


def generate_secret(nbytes: int = 32) -> str:
    """A new endpoint secret: `whsec_` + base64 of `nbytes` (24-64) random bytes."""
    if not 24 <= nbytes <= 64:
        raise ValueError("a webhook secret has 24 to 64 random bytes")
    return "whsec_" + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")


def _key(secret: str) -> bytes:
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)


def check_secret(secret: str) -> str:
    """The secret if it is `whsec_` + base64 of 24-64 bytes; else WebhookError naming --secret."""
    problem = None
    if not secret.startswith("whsec_"):
        problem = "must start with 'whsec_'"
    else:
        try:
            n = len(_key(secret))
        except (ValueError, base64.binascii.Error):  # type: ignore[attr-defined]
            problem = "is not valid base64 after 'whsec_'"
        else:
            if not 24 <= n <= 64:
                problem = (
                    f"decodes to {n} bytes; use 24 to 64 random bytes (or leave --secret out to get one)"
                )
    if problem:
        raise WebhookError(f"the webhook secret {problem}", field="--secret")
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">` with the secret's key bytes."""
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    mac = hmac.new(_key(secret), f"{msg_id}.{int(timestamp)}.".encode() + data, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def message_id(event_id: int) -> str:
    """The `webhook-id` of an event: the same for every attempt and every endpoint."""
    return f"evt_{int(event_id)}"


def body_for(type: str, timestamp: str, data: dict[str, Any]) -> str:
    """The request body, exactly as signed: `{"type", "timestamp", "data"}`."""
    return json.dumps(
        {"type": type, "timestamp": timestamp, "data": data}, ensure_ascii=False, separators=(",", ":")
    )


def iso_time(t: float) -> str:
    """A Unix time as the body's `timestamp`: ISO 8601 UTC with milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"
