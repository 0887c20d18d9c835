"""doctor, templates."""

from __future__ import annotations

import platform
import sys

import typer

from ..config import KEY_NAMES, Settings
from ..media.ffmpeg import ffmpeg_exe, ffmpeg_source
from ._app import app, console, emit_json, handle_errors


def _ffmpeg_version() -> str:
    import subprocess

    try:
        out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, timeout=10).stdout
        return out.split("\n", 1)[0].replace("ffmpeg version ", "").split(" Copyright")[0]
    except OSError as e:
        return f"not runnable ({e})"


def _rate_limits(settings: Settings) -> dict:
    """Last rate-limit values providers reported (stored by the provider nodes; no network call)."""
    if not settings.db_path.exists():
        return {}
    from ..engine.store import JobStore
    from ..engine.usage import provider_state

    store = JobStore(settings.db_path)
    try:
        return provider_state(store)
    finally:
        store.close()


def _rate_limit_text(rl: dict) -> str:
    import time

    text = f"{rl.get('remaining', '?')} of {rl.get('limit', '?')}"
    if rl.get("reset"):
        text += f", resets {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(float(rl['reset'])))}"
    if rl.get("updated_at"):
        text += f"  [dim](seen {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(float(rl['updated_at'])))})[/]"
    return text


@app.command()
@handle_errors()
def doctor(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Say which FFmpeg, voices and providers fenta will use, and which keys are set (never their values)."""
    settings = Settings.from_env()
    try:
        from ..tts.espeak import list_voices

        espeak = f"{len(list_voices())} voices (offline)"
    except Exception as e:  # noqa: BLE001 - doctor reports, never fails
        espeak = f"unavailable: {e}"
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "home": str(settings.home),
        "ffmpeg": {"path": ffmpeg_exe(), "source": ffmpeg_source(), "version": _ffmpeg_version()},
        "voices": {"espeak": espeak, "edge": "online (needs network)"},
        "keys": {var: (name in settings.keys) for name, var in KEY_NAMES.items()},
        "providers": settings.urls,
        "rate_limits": _rate_limits(settings),
    }
    if json:
        emit_json(info)
        return
    from rich.table import Table
    t = Table(show_header=False, box=None, padding=(0, 2))
    t.add_row("python", info["python"])
    t.add_row("home", info["home"])
    t.add_row("ffmpeg", f"{info['ffmpeg']['version']}  [dim]{info['ffmpeg']['source']}: {info['ffmpeg']['path']}[/]")
    t.add_row("espeak", espeak)
    t.add_row("edge-tts", info["voices"]["edge"])
    for var, is_set in info["keys"].items():
        t.add_row(var, "[green]set[/]" if is_set else "[dim]not set[/]")
    for name, url in settings.urls.items():
        t.add_row(f"{name} url", url)
    for name, rl in info["rate_limits"].items():
        t.add_row(f"{name} requests left", _rate_limit_text(rl))
    console.print(t)


templates_app = typer.Typer(help="List montage templates, or show one.", invoke_without_command=True)
app.add_typer(templates_app, name="templates")


@templates_app.callback()
@handle_errors()
def templates_list(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the shipped montage templates."""
    if ctx.invoked_subcommand:
        return
    from ..render.templates import list_templates, resolve_template

    rows = []
    for name in list_templates():
        t = resolve_template(name)
        c = t["canvas"]
        rows.append({"name": name, "size": f"{c['width']}x{c['height']}", "fps": c["fps"], "transition": t["transition"]["type"], "description": t["description"]})
    if json:
        emit_json(rows)
        return
    from rich.table import Table
    table = Table()
    for col in ("name", "size", "fps", "transition", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["size"], str(r["fps"]), r["transition"], r["description"])
    console.print(table)


@templates_app.command("show")
@handle_errors()
def templates_show(name: str = typer.Argument(..., help="Template name or path."), json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show every field of a template, defaults filled in."""
    from ..render.templates import resolve_template

    t = resolve_template(name)
    if json:
        emit_json(t)
    else:
        import yaml

        typer.echo(yaml.safe_dump(t, sort_keys=False, allow_unicode=True))
