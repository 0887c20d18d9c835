"""serve, tokens create/list/revoke: thin commands over fenta.serve."""

from __future__ import annotations

import typer

from ..config import Settings
from ._app import app, console, emit_json, err_console, handle_errors

tokens_app = typer.Typer(
    help="Access tokens for `fenta serve`: create (printed once), list, revoke.", no_args_is_help=True
)
app.add_typer(tokens_app, name="tokens")


@app.command()
@handle_errors(json_flag=None)
def serve(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on (anything but loopback needs an access token to exist).",
    ),
    port: int = typer.Option(
        8000, "--port", min=0, max=65535, help="Port to listen on (0: any free one, printed)."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=0,
        max=64,
        help="Jobs rendered at once by the server's worker process (0: API only, for `fenta worker` "
        "elsewhere).",
    ),
    scheduler: bool = typer.Option(
        True, "--scheduler/--no-scheduler", help="Also queue scheduled jobs (one scheduler per FENTA_HOME)."
    ),
    log_format: str | None = typer.Option(
        None,
        "--log-format",
        help="text or json: one JSON object per line with time, level, message, request_id, job_id, node, "
        "duration (default FENTA_LOG_FORMAT, else text).",
    ),
    cors_origin: list[str] | None = typer.Option(
        None,
        "--cors-origin",
        help="An origin browsers may call the API from (repeatable; default FENTA_CORS_ORIGINS; none: CORS "
        "off).",
    ),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        help="The server's URL as clients reach it (behind a proxy): MCP's metadata names it and MCP accepts "
        "its host.",
    ),
) -> None:
    """Run the render API: REST under /v1 with OpenAPI (/docs), live progress over SSE, MCP for agents at
    /mcp,
    Prometheus /metrics, plus render workers and the scheduler, as one process group.

    Every route but /v1/health needs an access token (`fenta tokens create`). SIGTERM or Ctrl-C stops the
    group cleanly: running nodes finish and their jobs go back to the queue; a second signal cancels them.
    """
    try:
        from ..serve.server import serve as run_server
    except ImportError as e:
        from ..errors import ServeError

        raise ServeError(
            f"fenta serve needs the serve extra (Python 3.11 or newer): pip install 'fenta[serve]' ({e.name} "
            "is missing)"
        ) from None
    run_server(
        Settings.from_env(),
        host=host,
        port=port,
        workers=workers,
        scheduler=scheduler,
        log_format=log_format,
        cors_origins=cors_origin,
        public_url=public_url,
        announce=lambda m: err_console.print(m, highlight=False, markup=False),
    )


@tokens_app.command("create")
@handle_errors()
def tokens_create(
    name: str = typer.Option(..., "--name", help="What the token is for (shown in `fenta tokens list`)."),
    role: str = typer.Option(
        "editor", "--role", help="viewer, editor, admin or owner (see the permission matrix in the README)."
    ),
    scopes: list[str] | None = typer.Option(
        None,
        "--scopes",
        help="Narrow the role to these permissions, comma-separated (e.g. jobs:read,jobs:write); default: "
        "all of the role's.",
    ),
    expires: str = typer.Option(
        "90d", "--expires", help="When it expires: 12h, 90d, 4w, 1y or a date (YYYY-MM-DD); at most a year."
    ),
    json: bool = typer.Option(False, "--json", help='Print {"token": ..., "id": ..., ...} as JSON.'),
) -> None:
    """Create an access token for `fenta serve` and print it once (only its hash is kept)."""
    from ..serve.access import create_token

    secret, info = create_token(Settings.from_env(), name=name, role=role, scopes=scopes, expires=expires)
    if json:
        emit_json({"token": secret, **info})
        return
    console.print(secret, highlight=False, markup=False)
    err_console.print(
        f"token {info['id']} ({info['role']}: {', '.join(info['permissions'])}), expires "
        f"{info['expires_at']}; "
        "shown once: keep it now (send it as 'Authorization: Bearer TOKEN')",
        highlight=False,
        markup=False,
    )


@tokens_app.command("list")
@handle_errors()
def tokens_list(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List access tokens (never their secrets): id, name, role, scopes, state, expiry, last use."""
    from ..serve.access import list_tokens

    rows = list_tokens(Settings.from_env())
    if json:
        emit_json(rows)
        return
    if not rows:
        console.print(
            "no access tokens: create one with `fenta tokens create --name NAME --role editor`",
            highlight=False,
            markup=False,
        )
        return
    from ._tables import table, whole

    t = table(
        whole("id"), whole("prefix"), "name", "role", "scopes", "state", whole("expires"), whole("last used")
    )
    for r in rows:
        t.add_row(
            r["id"],
            r["prefix"] + "...",
            r["name"],
            r["role"],
            ",".join(r["scopes"]) if r["scopes"] else "(role)",
            r["state"],
            r["expires_at"],
            r["last_used_at"] or "-",
        )
    console.print(t)


@tokens_app.command("revoke")
@handle_errors()
def tokens_revoke(
    token_id: str = typer.Argument(
        ..., help="The token's id (tok_...) or the start of its prefix, as `fenta tokens list` shows them."
    ),
    json: bool = typer.Option(False, "--json", help="Print the revoked token as JSON."),
) -> None:
    """Revoke an access token: it is refused from the next request on."""
    from ..serve.access import revoke_token

    info, changed = revoke_token(Settings.from_env(), token_id)
    if json:
        emit_json({**info, "changed": changed})
        return
    console.print(
        f"revoked token {info['id']} ({info['name']})"
        if changed
        else f"token {info['id']} was revoked already",
        highlight=False,
        markup=False,
    )
