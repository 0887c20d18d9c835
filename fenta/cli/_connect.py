"""The sign-in half of `fenta accounts connect`: the app's credentials (a Google client file, the
environment, or a hidden prompt), the page to open, and the platform's flow
(`fenta.providers.google`, `tiktok_auth`, `instagram_auth`)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer

from ..config import Settings
from ..errors import AccountError
from ._app import console, err_console

__all__ = ["secret", "client_file", "show_url", "sign_in"]


def secret(value: str | None, var: str, prompt: str) -> str:
    """A client secret: from the environment, else asked for on a terminal (never a command-line flag:
    shells keep those in their history)."""
    if value:
        return value
    if not console.is_terminal:
        raise AccountError(
            f"{prompt} is needed: set {var} (or run this on a terminal to be asked)",
            provider="accounts",
            field=var,
        )
    return str(typer.prompt(prompt, hide_input=True, err=True)).strip()


def client_file(path: Path) -> tuple[str, str]:
    """(client id, secret) from a Google `client_secret_*.json` (Desktop app: `installed`)."""
    try:
        doc = jsonlib.loads(path.read_text(encoding="utf-8"))
        inner = doc.get("installed") or doc.get("web") or doc
        return str(inner["client_id"]), str(inner["client_secret"])
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        raise AccountError(
            f"{path} is not a Google OAuth client file (client_secret_*.json with client_id and "
            "client_secret)",
            provider="youtube",
            field="--client-file",
        ) from None


def show_url(no_browser: bool):
    def show(url: str) -> None:
        err_console.print("Open this page to sign in (fenta waits for the answer):", highlight=False)
        err_console.print(url, highlight=False, markup=False, soft_wrap=True)
        if not no_browser:
            import webbrowser  # here: only a sign-in opens a browser

            webbrowser.open(url)

    return show


def sign_in(
    settings: Settings,
    platform: str,
    *,
    name: str,
    device: bool,
    port: int,
    client_id: str,
    secret: str,
    setup: str,
    redirect_uri: str | None,
    page: str | None,
    show: Any,
) -> Any:
    if platform == "youtube":
        from ..providers import google

        if device:
            err_console.print(
                "--device asks for the broader 'youtube' scope (manage your YouTube account): Google's "
                "device flow does not allow the upload-only scope.",
                highlight=False,
                markup=False,
            )

            def say(url: str, code: str) -> None:
                err_console.print(
                    f"On any device, open {url} and enter the code: {code}", highlight=False, markup=False
                )

            return google.connect_device(
                settings, name=name, client_id=client_id, client_secret=secret, show=say
            )
        return google.connect_loopback(
            settings, name=name, client_id=client_id, client_secret=secret, port=port, show=show
        )
    if platform == "tiktok":
        from ..providers import tiktok_auth

        return tiktok_auth.connect(
            settings, name=name, client_key=client_id, client_secret=secret, port=port, show=show
        )
    from ..providers import instagram_auth

    if setup not in instagram_auth.SETUPS:
        raise AccountError(
            f"unknown setup '{setup}': choose {', '.join(instagram_auth.SETUPS)}",
            provider=platform,
            field="--setup",
        )

    def ask(prompt: str) -> str:
        return str(typer.prompt(prompt, err=True))

    return instagram_auth.connect(
        settings,
        name=name,
        app_id=client_id,
        app_secret=secret,
        setup=setup,
        port=port,
        redirect_uri=redirect_uri,
        page=page,
        show=show,
        ask=ask,
    )
