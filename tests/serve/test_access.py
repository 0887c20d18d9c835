"""Access tokens: the format, what fenta.db keeps, expiry, revocation, roles narrowed by scopes."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from fenta.errors import ServeError
from fenta.serve import access
from fenta.serve.access import (
    ROLE_SCOPES,
    authenticate,
    create_token,
    list_tokens,
    parse_expiry,
    revoke_token,
    well_formed,
)
from fenta.serve.store import ServeStore


def test_a_new_token_has_the_prefix_a_random_body_and_a_checksum_that_catches_typos():
    secret = access.new_secret()
    assert secret.startswith("fenta_pat_") and len(secret) == 59 and well_formed(secret)
    typo = secret[:20] + ("A" if secret[20] != "A" else "B") + secret[21:]
    assert not well_formed(typo)
    assert not well_formed("ghp_" + secret[4:]) and not well_formed(secret + "x")
    assert access.new_secret() != secret


def test_only_the_hash_and_the_first_characters_of_a_token_are_stored(settings):
    secret, info = create_token(settings, name="ci", role="editor")
    dump = "\n".join(sqlite3.connect(settings.db_path).iterdump())
    assert secret not in dump and secret[len("fenta_pat_") :] not in dump
    assert access.token_hash(secret) in dump
    assert info["prefix"] == secret[: access.SHOWN] and info["prefix"] in dump


def test_every_token_expires_within_a_year():
    now = 1_800_000_000.0
    assert parse_expiry("90d", now) == now + 90 * 86400
    assert parse_expiry("12h", now) == now + 12 * 3600
    for bad in ("never", "0d", "400d", "2000-01-01", ""):
        with pytest.raises(ServeError, match="--expires"):
            parse_expiry(bad, now)


def test_scopes_narrow_the_role_and_may_not_exceed_it(settings):
    _, info = create_token(settings, name="reader", role="editor", scopes=["jobs:read,artifacts:read"])
    assert info["permissions"] == ["artifacts:read", "jobs:read"]
    with pytest.raises(ServeError, match="beyond the editor role"):
        create_token(settings, name="x", role="editor", scopes=["webhooks:write"])
    with pytest.raises(ServeError, match="unknown scope"):
        create_token(settings, name="x", role="owner", scopes=["jobs:delete"])
    with pytest.raises(ServeError, match="unknown role"):
        create_token(settings, name="x", role="root")


def test_roles_grow_from_viewer_to_owner():
    order = ["viewer", "editor", "admin", "owner"]
    for low, high in zip(order, order[1:]):
        assert ROLE_SCOPES[low] < ROLE_SCOPES[high]


def test_an_expired_a_revoked_and_an_unknown_token_are_refused_with_their_reason(settings):
    store = ServeStore(settings)
    try:
        secret, info = create_token(settings, name="short", role="viewer", expires="1h")
        assert authenticate(store, f"Bearer {secret}").token_id == info["id"]
        with pytest.raises(ServeError) as e:
            authenticate(store, f"Bearer {secret}", now=time.time() + 7200)
        assert (e.value.status, e.value.extra["reason"]) == (401, "expired")
        revoke_token(settings, info["id"])
        with pytest.raises(ServeError) as e:
            authenticate(store, f"Bearer {secret}")
        assert e.value.extra["reason"] == "revoked"
        with pytest.raises(ServeError) as e:
            authenticate(store, f"Bearer {access.new_secret()}")
        assert e.value.extra["reason"] == "unknown"
        for header, reason in (
            (None, "missing"),
            ("Basic abc", "malformed"),
            ("Bearer fenta_pat_short", "malformed"),
        ):
            with pytest.raises(ServeError) as e:
                authenticate(store, header)
            assert e.value.extra["reason"] == reason
    finally:
        store.close()


def test_last_use_is_written_at_most_once_a_minute(settings):
    secret, info = create_token(settings, name="t", role="viewer")
    store = ServeStore(settings)
    try:
        authenticate(store, f"Bearer {secret}", now=1000.0 + time.time())
        first = list_tokens(settings)[0]["last_used_at"]
        authenticate(store, f"Bearer {secret}", now=1030.0 + time.time())
        assert list_tokens(settings)[0]["last_used_at"] == first
        authenticate(store, f"Bearer {secret}", now=1100.0 + time.time())
        assert list_tokens(settings)[0]["last_used_at"] != first
    finally:
        store.close()


def test_the_cli_prints_a_token_once_lists_it_without_the_secret_and_revokes_it(cli, settings):
    r = cli(
        "tokens",
        "create",
        "--name",
        "ci",
        "--role",
        "editor",
        "--scopes",
        "jobs:read,jobs:write",
        "--expires",
        "30d",
        "--json",
    )
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert (
        well_formed(made["token"])
        and made["role"] == "editor"
        and made["scopes"] == ["jobs:read", "jobs:write"]
    )
    listed = cli("tokens", "list", "--json")
    assert made["token"] not in listed.output
    assert json.loads(listed.output)[0]["state"] == "active"
    r = cli("tokens", "revoke", made["id"])
    assert r.exit_code == 0 and "revoked" in r.output
    assert json.loads(cli("tokens", "list", "--json").output)[0]["state"] == "revoked"


def test_bad_token_options_are_one_line_and_exit_2(cli):
    for args in (
        ["--role", "root"],
        ["--expires", "never"],
        ["--scopes", "nope"],
        ["--role", "viewer", "--scopes", "jobs:write"],
    ):
        r = cli("tokens", "create", "--name", "x", *args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output and r.output.count("error:") == 1
    r = cli("tokens", "revoke", "tok_nothere")
    assert r.exit_code == 2 and "no token" in r.output
