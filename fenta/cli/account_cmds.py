"""accounts, accounts connect/list/show/remove/test: the publishing accounts (YouTube, TikTok, Instagram).

Tokens live under FENTA_HOME/accounts (0600); nothing here prints a secret unless asked with
`show --env` (what a CI job sets). The sign-in flows are `fenta.providers.google`, `tiktok_auth` and
`instagram_auth`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..config import PUBLISH_ENV, Settings
from ..errors import AccountError
from ._app import app, console, emit_json, handle_errors
from ._connect import client_file as client_file_of
from ._connect import secret as ask_secret
from ._connect import show_url, sign_in

accounts_app = typer.Typer(
    help=(
        "Connect, list, show, test and remove the accounts fenta publishes with (YouTube, TikTok, Instagram)."
    ),
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(accounts_app, name="accounts")

_PLATFORM_HELP = "youtube, tiktok or instagram."
_NAME_HELP = "The account's name (default: 'default'; several accounts per platform are told apart by name)."
#: Where a user takes fenta's access away at the service itself.
_REVOKE_AT = {
    "youtube": "https://myaccount.google.com/permissions",
    "tiktok": "TikTok: Settings and privacy > Security > Apps and services",
    "instagram": "https://www.facebook.com/settings?tab=business_tools",
}


def _platform(value: str) -> str:
    from ..providers.accounts import PLATFORMS

    name = value.strip().lower()
    if name not in PLATFORMS:
        raise AccountError(
            f"unknown platform '{value}': choose {', '.join(PLATFORMS)}",
            provider="accounts",
            field="PLATFORM",
        )
    return name


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    left = ts - time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    if left <= 0:
        return f"{stamp} (expired)"
    return f"{stamp} (in {left / 86400:.0f} d)" if left > 86400 else f"{stamp} (in {left / 3600:.1f} h)"


@accounts_app.callback()
@handle_errors()
def accounts_root(
    ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print as JSON.")
) -> None:
    """List the accounts (the same as `fenta accounts list`)."""
    if ctx.invoked_subcommand is None:
        _list(json)


@accounts_app.command("list")
@handle_errors()
def accounts_list(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List every publishing account: connected ones and the environment's, with whom each posts as."""
    _list(json)


def _list(as_json: bool) -> None:
    from ..providers.accounts import AccountStore

    accounts = AccountStore(Settings.from_env()).all()
    if as_json:
        emit_json([a.public() for a in accounts])
        return
    if not accounts:
        console.print(
            "no accounts: connect one with `fenta accounts connect youtube`", highlight=False, markup=False
        )
        return
    from ._tables import table, whole

    t = table("platform", whole("name"), "posts as", "from", "token until")
    for a in accounts:
        who = a.label or a.uid or "-"
        t.add_row(
            a.platform, a.name, who, "environment" if a.source == "env" else "FENTA_HOME", _when(a.expires_at)
        )
    console.print(t)


@accounts_app.command("connect")
@handle_errors()
def accounts_connect(
    platform: str = typer.Argument(..., help=_PLATFORM_HELP),
    name: str = typer.Option("default", "--name", help=_NAME_HELP),
    device: bool = typer.Option(
        False,
        "--device",
        help=(
            "YouTube on a machine without a browser: type a code on another device. Asks for the broader "
            "'youtube' scope (manage your YouTube account): Google's device flow does not allow the upload-"
            "only scope."
        ),
    ),
    port: int = typer.Option(
        0,
        "--port",
        min=0,
        max=65535,
        help=(
            "The port of the 127.0.0.1 redirect (default: a free one); for apps that registered a fixed one."
        ),
    ),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the sign-in page's address instead of opening a browser."
    ),
    client_file: Path | None = typer.Option(
        None,
        "--client-file",
        help="YouTube: the OAuth client file Google gives (client_secret_*.json, a Desktop app).",
    ),
    client_id: str | None = typer.Option(
        None,
        "--client-id",
        help=(
            "The app's client id (YouTube), client key (TikTok) or app id (Instagram); default from "
            "FENTA_YOUTUBE_CLIENT_ID, FENTA_TIKTOK_CLIENT_KEY or FENTA_INSTAGRAM_APP_ID. The secret comes "
            "from the environment or is asked for."
        ),
    ),
    setup: str = typer.Option(
        "facebook",
        "--setup",
        help=(
            "Instagram: facebook (a professional account linked to a Facebook Page; local files are "
            "uploaded) or instagram (Instagram Login; Meta fetches videos from a public URL)."
        ),
    ),
    redirect_uri: str | None = typer.Option(
        None,
        "--redirect-uri",
        help=(
            "Instagram: the redirect URI registered with Meta when it is not a localhost one; you paste the "
            "address the browser ends on."
        ),
    ),
    page: str | None = typer.Option(
        None,
        "--page",
        help="Instagram (facebook setup): the Facebook Page to use, by name or id, when you manage several.",
    ),
    json: bool = typer.Option(False, "--json", help="Print the connected account as JSON (no secrets)."),
) -> None:
    """Sign in to YouTube, TikTok or Instagram and keep the account under FENTA_HOME (readable by you only).

    YouTube signs in through the browser for the upload-only scope (or `--device`); TikTok through the
    browser with its desktop PKCE; Instagram with Facebook Login (default) or Instagram Login (`--setup
    instagram`). Connecting a name again replaces its tokens.
    """
    from ..providers.accounts import AccountStore, check_name

    platform = _platform(platform)
    check_name(name)
    settings = Settings.from_env()
    env = settings.publish_env.get(platform, {})
    if device and platform != "youtube":
        raise AccountError(
            "--device is for YouTube (TikTok and Instagram sign in through a browser)",
            provider=platform,
            field="--device",
        )
    if platform != "instagram" and (redirect_uri or page):
        raise AccountError(
            "--redirect-uri and --page are for Instagram",
            provider=platform,
            field="--redirect-uri" if redirect_uri else "--page",
        )
    secret_from_file = None
    if client_file is not None:
        if platform != "youtube":
            raise AccountError(
                "--client-file is Google's client file, for YouTube", provider=platform, field="--client-file"
            )
        client_id, secret_from_file = client_file_of(client_file)
    fields = PUBLISH_ENV[platform]
    client_id = client_id or env.get("client_id")
    if not client_id:
        how = "pass --client-id or "
        if platform == "youtube":
            how = "pass --client-file (Google's client_secret_*.json) or --client-id, or "
        raise AccountError(
            f"the app's id is needed: {how}set {fields['client_id']}", provider=platform, field="--client-id"
        )
    secret = ask_secret(
        secret_from_file or env.get("client_secret"), fields["client_secret"], f"{platform} client secret"
    )
    show = show_url(no_browser)
    account = sign_in(
        settings,
        platform,
        name=name,
        device=device,
        port=port,
        client_id=client_id,
        secret=secret,
        setup=setup,
        redirect_uri=redirect_uri,
        page=page,
        show=show,
    )
    store = AccountStore(settings)
    with store.lock(platform, name):
        replaced = store.get(platform, name) is not None
        store.save(account)
    if json:
        emit_json(account.public())
        return
    who = f" as {account.label}" if account.label else ""
    verb = "reconnected" if replaced else "connected"
    console.print(
        f"{verb} {account.title} account '{name}'{who}; stored in {escape(str(store.path(platform, name)))} "
        "(readable by you only)",
        highlight=False,
    )


def _account(platform: str, name: str | None) -> Any:
    from ..policy import TRUSTED
    from ..providers.accounts import resolve

    try:
        return resolve(Settings.from_env(), _platform(platform), name, TRUSTED)
    except AccountError as e:
        e.field = "--name" if e.field == "params.account" else e.field  # here, the account is an option
        raise


@accounts_app.command("show")
@handle_errors()
def accounts_show(
    platform: str = typer.Argument(..., help=_PLATFORM_HELP),
    name: str | None = typer.Option(
        None,
        "--name",
        help=(
            "The account (default: the one a publish node without `account` uses; 'env' is the "
            "environment's)."
        ),
    ),
    env: bool = typer.Option(
        False,
        "--env",
        help=(
            "Print the account as the environment variables a CI job sets, secrets included (for a secret "
            "store, never a log)."
        ),
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON (no secrets)."),
) -> None:
    """Show one account: who it posts as, its scope, when its token expires (never the tokens themselves)."""
    account = _account(platform, name)
    if env:
        values = {
            "client_id": account.client_id,
            "client_secret": account.client_secret,
            "refresh_token": account.refresh_token,
            "access_token": account.access_token,
            "user_id": account.uid,
            "setup": account.setup,
        }
        for field_, var in PUBLISH_ENV[account.platform].items():
            if values.get(field_):
                typer.echo(f"{var}={values[field_]}")
        return
    info = account.public()
    if json:
        emit_json(info)
        return
    for key in ("platform", "name", "label", "uid", "source", "setup", "client_id", "scope"):
        if info.get(key):
            console.print(f"[dim]{key:<12}[/] {escape(str(info[key]))}", highlight=False)
    console.print(f"[dim]{'token until':<12}[/] {_when(account.expires_at)}", highlight=False)
    console.print(
        f"[dim]{'refresh':<12}[/] {'stored' if account.refresh_token else 'none'}"
        + (f", until {_when(account.refresh_expires_at)}" if account.refresh_expires_at else ""),
        highlight=False,
    )
    connected = (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(account.connected_at)) if account.connected_at else "-"
    )
    console.print(f"[dim]{'connected':<12}[/] {connected}", highlight=False)


@accounts_app.command("remove")
@handle_errors()
def accounts_remove(
    platform: str = typer.Argument(..., help=_PLATFORM_HELP),
    name: str = typer.Option("default", "--name", help=_NAME_HELP),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Forget a connected account's tokens (the service keeps fenta's access until you remove it there)."""
    from ..providers.accounts import ENV_NAME, AccountStore

    platform = _platform(platform)
    if name == ENV_NAME:
        raise AccountError(
            f"the environment's account goes away when its variables are unset "
            f"({', '.join(PUBLISH_ENV[platform].values())})",
            provider=platform,
            field="--name",
        )
    store = AccountStore(Settings.from_env())
    with store.lock(platform, name):
        removed = store.remove(platform, name)
    if not removed:
        raise AccountError(
            f"no {platform} account named '{name}' (see `fenta accounts list`)",
            provider=platform,
            field="--name",
        )
    if json:
        emit_json({"platform": platform, "name": name, "removed": True})
        return
    console.print(
        f"removed {platform} account '{name}'; to take fenta's access away at the service too: "
        f"{_REVOKE_AT[platform]}",
        highlight=False,
        markup=False,
    )


@accounts_app.command("test")
@handle_errors()
def accounts_test(
    platform: str = typer.Argument(..., help=_PLATFORM_HELP),
    name: str | None = typer.Option(
        None, "--name", help="The account (default: the one a publish node without `account` uses)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check an account works: refresh its token (the newest is stored) and ask the service who it is."""
    from ..providers.tokens import fresh

    account = _account(platform, name)
    settings = Settings.from_env()
    account = fresh(settings, account, force=account.platform != "instagram")
    if account.platform == "youtube":
        from ..providers.google import channel

        uid, label = channel(settings, account.access_token)
        who = f"YouTube channel '{label}' ({uid})"
    elif account.platform == "tiktok":
        from ..providers.tiktok_auth import creator_info

        info = creator_info(settings, account.access_token)
        label = str(info.get("creator_username") or info.get("creator_nickname") or account.uid)
        who = f"TikTok creator @{label}"
    else:
        from ..providers.instagram_auth import profile

        label = str(profile(settings, account).get("username") or account.uid)
        who = f"Instagram account @{label}"
    if json:
        emit_json(
            {
                "platform": account.platform,
                "name": account.name,
                "ok": True,
                "posts_as": label,
                "token_until": account.expires_at,
            }
        )
        return
    console.print(
        f"ok: account '{account.name}' posts as {who}; token valid until {_when(account.expires_at)}",
        highlight=False,
        markup=False,
    )
