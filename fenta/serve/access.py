"""Who may call `fenta serve`: personal access tokens, roles and scopes.

A token is `fenta_pat_` + 43 base62 characters (256 random bits) + 6 base62 characters of CRC32 over
those 43, so a leaked token is recognisable by its prefix and a typo or a look-alike is refused before
the database is read (GitHub's format). It is printed once, when created; fenta.db keeps only its
SHA-256 and its first characters. Every token expires (at most a year ahead) and can be revoked.

A token has one role; a role is a set of permissions (scopes). A token created with `--scopes` may use
only those of its role's permissions: effective permission = role ∩ scopes.

    permission        viewer  editor  admin  owner
    jobs:read           x       x       x      x     list, show, follow jobs (SSE); MCP get_job, wait_for_job
    artifacts:read      x       x       x      x     download a job's files
    workflows:read      x       x       x      x     validate, estimate, templates, node types
    assets:read         x       x       x      x     search the asset library
    schedules:read      x       x       x      x     list and show schedules
    usage:read          x       x       x      x     usage and quota status
    jobs:write                  x       x      x     create, cancel, retry jobs; MCP create_video, cancel_job
    assets:write                x       x      x     upload assets
    schedules:write             x       x      x     add, pause, resume, run, remove schedules
    webhooks:read                       x      x     list webhook endpoints
    webhooks:write                      x      x     add and remove webhook endpoints
    metrics:read                        x      x     /metrics
    quotas:write                               x     set and remove quota limits (what the box may spend)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import ServeError
from .store import ServeStore

__all__ = [
    "PREFIX",
    "SCOPES",
    "ROLES",
    "ROLE_SCOPES",
    "THROTTLE",
    "MAX_DAYS",
    "Principal",
    "new_secret",
    "well_formed",
    "token_hash",
    "parse_expiry",
    "create_token",
    "list_tokens",
    "revoke_token",
    "authenticate",
]

PREFIX = "fenta_pat_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY, _CRC = 43, 6
#: Characters of a token kept to recognise it ("fenta_pat_" + 8): shown by `tokens list` and in logs.
SHOWN = len(PREFIX) + 8
#: A token's last use is written at most this often (seconds).
THROTTLE = 60.0
#: The longest a token may live.
MAX_DAYS = 366

#: Permission -> what it allows.
SCOPES: dict[str, str] = {
    "jobs:read": "list, show and follow jobs (REST, SSE; MCP get_job, wait_for_job)",
    "artifacts:read": "download a job's files",
    "workflows:read": "validate workflows, estimate cost, list templates and node types",
    "assets:read": "search the asset library",
    "schedules:read": "list and show schedules",
    "usage:read": "usage and quota status",
    "jobs:write": "create, cancel and retry jobs (MCP create_video, cancel_job)",
    "assets:write": "upload assets",
    "schedules:write": "add, pause, resume, run and remove schedules",
    "webhooks:read": "list webhook endpoints",
    "webhooks:write": "add and remove webhook endpoints",
    "metrics:read": "read /metrics",
    "quotas:write": "set and remove quota limits",
}
_VIEWER = ("jobs:read", "artifacts:read", "workflows:read", "assets:read", "schedules:read", "usage:read")
_EDITOR = (*_VIEWER, "jobs:write", "assets:write", "schedules:write")
_ADMIN = (*_EDITOR, "webhooks:read", "webhooks:write", "metrics:read")
#: Role -> its permissions, lowest role first.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": frozenset(_VIEWER),
    "editor": frozenset(_EDITOR),
    "admin": frozenset(_ADMIN),
    "owner": frozenset((*_ADMIN, "quotas:write")),
}
ROLES = tuple(ROLE_SCOPES)


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: its token's id, name, role and effective permissions."""

    token_id: str
    name: str
    role: str
    scopes: frozenset[str]
    prefix: str

    def can(self, scope: str) -> bool:
        return scope in self.scopes


# ---------------------------------------------------------------- the token format


def _base62(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CRC)


def new_secret() -> str:
    """A new token: the prefix, 256 random bits in base62, their CRC32."""
    body = _base62(secrets.randbits(256), _BODY)
    return PREFIX + body + _checksum(body)


_SHAPE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_BODY + _CRC}}}$")


def well_formed(secret: str) -> bool:
    """Whether `secret` has the token's shape and its checksum matches (no database read)."""
    if not _SHAPE.match(secret or ""):
        return False
    body = secret[len(PREFIX) : len(PREFIX) + _BODY]
    return secrets.compare_digest(secret[-_CRC:], _checksum(body))


def token_hash(secret: str) -> str:
    """What fenta.db keeps of a token. A fast hash is enough: the secret has 256 bits of entropy."""
    return hashlib.sha256(secret.encode()).hexdigest()


# ---------------------------------------------------------------- creating, listing, revoking

_DURATION = re.compile(r"^(\d+)\s*([hdwy])$")
_UNIT = {"h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_expiry(text: str, now: float) -> float:
    """When a token made now with `--expires TEXT` expires: `90d`, `12h`, `4w`, `1y` or a date
    (YYYY-MM-DD, UTC).

    Raises:
        ServeError: unreadable, not in the future, or more than a year ahead (every token expires).
    """
    t = (text or "").strip().lower()
    m = _DURATION.match(t)
    if m:
        at = now + int(m.group(1)) * _UNIT[m.group(2)]
    else:
        try:
            day = dt.date.fromisoformat(t)
        except ValueError:
            raise ServeError(
                f"--expires '{text}' is not a duration (90d, 12h, 4w, 1y) or a date (YYYY-MM-DD); every "
                "token expires",
                field="--expires",
            ) from None
        at = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()
    if at <= now:
        raise ServeError(f"--expires '{text}' is not in the future", field="--expires")
    if at > now + MAX_DAYS * 86400:
        raise ServeError(
            f"--expires '{text}' is more than {MAX_DAYS} days ahead: tokens must expire within a year",
            field="--expires",
        )
    return at


def _scopes(role: str, scopes: Iterable[str] | None) -> list[str] | None:
    if scopes is None:
        return None
    out: list[str] = []
    for item in scopes:
        for s in (p.strip() for p in item.split(",")):
            if not s:
                continue
            if s not in SCOPES:
                raise ServeError(f"unknown scope '{s}': choose from {', '.join(SCOPES)}", field="--scopes")
            if s not in ROLE_SCOPES[role]:
                raise ServeError(
                    f"scope '{s}' is beyond the {role} role (a token never exceeds its role): give a higher "
                    "--role or drop it",
                    field="--scopes",
                )
            if s not in out:
                out.append(s)
    if not out:
        raise ServeError("--scopes names no scope", field="--scopes")
    return out


def _iso(ts: float | None) -> str | None:
    from ..engine.events import iso

    return iso(ts) if ts else None


def _public(row: dict[str, Any], now: float) -> dict[str, Any]:
    scopes = json.loads(row["scopes"]) if row.get("scopes") else None
    state = "revoked" if row.get("revoked_at") else "expired" if row["expires_at"] <= now else "active"
    return {
        "id": row["id"],
        "name": row["name"],
        "role": row["role"],
        "scopes": scopes,
        "permissions": sorted(_effective(row["role"], scopes)),
        "prefix": row["prefix"],
        "state": state,
        "created_at": _iso(row["created_at"]),
        "expires_at": _iso(row["expires_at"]),
        "last_used_at": _iso(row.get("last_used_at")),
        "revoked_at": _iso(row.get("revoked_at")),
    }


def _effective(role: str, scopes: list[str] | None) -> frozenset[str]:
    allowed = ROLE_SCOPES.get(role, frozenset())
    return allowed if scopes is None else allowed & frozenset(scopes)


def create_token(
    settings: Settings,
    *,
    name: str,
    role: str,
    scopes: Iterable[str] | None = None,
    expires: str = "90d",
    now: float | None = None,
) -> tuple[str, dict[str, Any]]:
    """Create a token; (the token, printed once and never again, its public description).

    Raises:
        ServeError: a bad name, role, scope or expiry (exit 2; nothing was stored).
    """
    now = time.time() if now is None else now
    name = (name or "").strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise ServeError("--name must be 1 to 64 printable characters", field="--name")
    role = (role or "").strip().lower()
    if role not in ROLE_SCOPES:
        raise ServeError(f"unknown role '{role}': choose {', '.join(ROLES)}", field="--role")
    chosen = _scopes(role, scopes)
    expires_at = parse_expiry(expires, now)
    secret = new_secret()
    row = {
        "id": "tok_" + secrets.token_hex(6),
        "name": name,
        "role": role,
        "scopes": json.dumps(chosen) if chosen is not None else None,
        "token_hash": token_hash(secret),
        "prefix": secret[:SHOWN],
        "created_at": now,
        "expires_at": expires_at,
    }
    store = ServeStore(settings)
    try:
        store.add_token(row)
    finally:
        store.close()
    return secret, _public(row, now)


def list_tokens(settings: Settings, *, now: float | None = None) -> list[dict[str, Any]]:
    """Every token (active, expired and revoked), oldest first, without any secret."""
    now = time.time() if now is None else now
    store = ServeStore(settings)
    try:
        return [_public(r, now) for r in store.tokens()]
    finally:
        store.close()


def revoke_token(settings: Settings, ref: str, *, now: float | None = None) -> tuple[dict[str, Any], bool]:
    """Revoke the token with id `ref` (or whose shown prefix starts with it): it is refused from the next
    request on. Returns (its description, whether it was active until now).

    Raises:
        ServeError: no token, or more than one, matches.
    """
    now = time.time() if now is None else now
    ref = (ref or "").strip()
    store = ServeStore(settings)
    try:
        found = store.find_tokens(ref) if ref else []
        if not found:
            raise ServeError(f"no token '{ref}' (see `fenta tokens list`)", field="ID")
        if len(found) > 1:
            raise ServeError(
                f"'{ref}' matches {len(found)} tokens ({', '.join(r['id'] for r in found)}): give its id",
                field="ID",
            )
        changed = store.revoke_token(found[0]["id"], now)
        return _public(store.find_tokens(found[0]["id"])[0], now), changed
    finally:
        store.close()


# ---------------------------------------------------------------- each request


def _refused(reason: str, detail: str) -> ServeError:
    challenge = (
        'Bearer realm="fenta"'
        if reason == "missing"
        else f'Bearer realm="fenta", error="invalid_token", error_description="{detail}"'
    )
    return ServeError(
        detail,
        status=401,
        title="Unauthorized",
        headers={"WWW-Authenticate": challenge},
        extra={"reason": reason},
    )


def authenticate(store: ServeStore, authorization: str | None, *, now: float | None = None) -> Principal:
    """The principal behind an `Authorization: Bearer` header value.

    Raises:
        ServeError: 401, with `extra["reason"]` one of missing, malformed, unknown, expired, revoked.
    """
    now = time.time() if now is None else now
    scheme, _, secret = (authorization or "").strip().partition(" ")
    if not authorization:
        raise _refused(
            "missing",
            "this route needs an access token: send 'Authorization: Bearer fenta_pat_...' (`fenta tokens "
            "create`)",
        )
    if scheme.lower() != "bearer" or not well_formed(secret.strip()):
        raise _refused(
            "malformed", "the Authorization header is not 'Bearer' and a well-formed fenta access token"
        )
    row = store.token_by_hash(token_hash(secret.strip()))
    if row is None:
        raise _refused("unknown", "this access token is not known here")
    if row.get("revoked_at"):
        raise _refused("revoked", f"access token {row['prefix']}... was revoked")
    if row["expires_at"] <= now:
        raise _refused("expired", f"access token {row['prefix']}... expired at {_iso(row['expires_at'])}")
    if row.get("last_used_at") is None or now - row["last_used_at"] >= THROTTLE:
        store.touch_token(row["id"], now, THROTTLE)  # a write (the one SQLite writer): not on every request
    scopes = json.loads(row["scopes"]) if row.get("scopes") else None
    return Principal(
        token_id=row["id"],
        name=row["name"],
        role=row["role"],
        scopes=_effective(row["role"], scopes),
        prefix=row["prefix"],
    )


def forbidden(principal: Principal, scope: str) -> ServeError:
    """403 for a principal without `scope` (RFC 6750 insufficient_scope)."""
    challenge = f'Bearer realm="fenta", error="insufficient_scope", scope="{scope}"'
    return ServeError(
        f"token {principal.prefix}... ({principal.role}) lacks the '{scope}' permission",
        status=403,
        title="Forbidden",
        headers={"WWW-Authenticate": challenge},
        extra={"reason": "scope", "required_scope": scope},
    )
