"""doctor, templates (list, show, preview)."""

from __future__ import annotations

import platform
import sys
from typing import Any

import typer

from ..config import KEY_NAMES, Settings
from ..media.ffmpeg import FFmpegUnusable, check_ffmpeg, ffmpeg_choice
from ._app import app, console, emit_json, handle_errors


def _ffmpeg(settings: Settings) -> dict:
    """Which FFmpeg is used, its version and why; `error` (and nothing else) when FENTA_FFMPEG is unusable."""
    try:
        choice = ffmpeg_choice()
    except FFmpegUnusable as e:
        return {"error": str(e)}
    used = check_ffmpeg(choice.path, settings)  # cached: costs nothing once the binary has been checked
    info = {
        "path": choice.path,
        "source": choice.source,
        "version": used.short_version,
        "reason": choice.reason,
        "ok": used.ok,
        "problem": used.problem,
        "passed_over": None,
    }
    if choice.passed_over:
        p = choice.passed_over
        info["passed_over"] = {
            "path": p.path,
            "version": p.short_version if p.version else None,
            "problem": p.problem,
        }
    return info


def _encoders(ffmpeg: dict, settings: Settings) -> dict:
    """Each H.264 encoder -> "usable" or why not (a test encode, once per machine: cached)."""
    if "error" in ffmpeg:
        return {}
    from ..render.encoders import check_all

    return {
        c.name: "usable" if c.ok else f"not usable: {c.problem}"
        for c in check_all(ffmpeg=ffmpeg["path"], settings=settings)
    }


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
        text += (
            f"  [dim](seen {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(float(rl['updated_at'])))})[/]"
        )
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
    ffmpeg = _ffmpeg(settings)
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "home": str(settings.home),
        "ffmpeg": ffmpeg,
        "encoders": _encoders(ffmpeg, settings),
        "voices": {"espeak": espeak, "edge": "online (needs network)"},
        "keys": {var: (name in settings.keys) for name, var in KEY_NAMES.items()},
        "providers": settings.urls,
        "rate_limits": _rate_limits(settings),
    }
    ff = info["ffmpeg"]
    if json:
        emit_json(info)
    else:
        _print_doctor(info, espeak, settings)
    if "error" in ff:
        raise typer.Exit(2)  # FENTA_FFMPEG names a binary fenta cannot use: every render would fail
    if not ff["ok"]:
        raise typer.Exit(1)  # the FFmpeg in use (the bundled one) lacks something: a broken install


def _print_doctor(info: dict, espeak: str, settings: Settings) -> None:
    from rich.markup import escape
    from rich.text import Text

    from ._tables import table, whole  # plain str cells are literal; values (paths, URLs) never cut

    ff = info["ffmpeg"]
    t = table("", whole(""), show_header=False, box=None, padding=(0, 2))
    t.add_row("python", info["python"])
    t.add_row("home", info["home"])
    if "error" in ff:
        t.add_row("ffmpeg", Text.from_markup(f"[bold red]unusable:[/] {escape(ff['error'])}"))
    else:
        t.add_row(
            "ffmpeg",
            Text.from_markup(
                f"{escape(ff['version'])}  [dim]{escape(ff['source'])}: {escape(ff['path'])}[/]"
            ),
        )
        t.add_row("  why", ff["reason"])
        if not ff["ok"]:
            t.add_row(Text("  lacks", style="red"), ff["problem"] or "?")
    for name, verdict in info["encoders"].items():
        t.add_row(f"encoder {name}", Text(verdict, style="green" if verdict == "usable" else "dim"))
    t.add_row("espeak", espeak)
    t.add_row("edge-tts", info["voices"]["edge"])
    for var, is_set in info["keys"].items():
        t.add_row(var, Text("set", style="green") if is_set else Text("not set", style="dim"))
    for name, url in settings.urls.items():
        t.add_row(f"{name} url", url)
    for name, rl in info["rate_limits"].items():
        t.add_row(f"{name} requests left", Text.from_markup(_rate_limit_text(rl)))
    console.print(t)


templates_app = typer.Typer(help="List montage templates, or show one.", invoke_without_command=True)
app.add_typer(templates_app, name="templates")


@templates_app.callback()
@handle_errors()
def templates_list(
    ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print as JSON.")
) -> None:
    """List the shipped montage templates."""
    if ctx.invoked_subcommand:
        return
    from ..render.templates import list_templates, resolve_template

    rows = []
    for name in list_templates():
        t = resolve_template(name)
        c = t["canvas"]
        rows.append(
            {
                "name": name,
                "size": f"{c['width']}x{c['height']}",
                "fps": c["fps"],
                "transition": t["transition"]["type"],
                "description": t["description"],
            }
        )
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
def templates_show(
    name: str = typer.Argument(..., help="Template name or path."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show every field of a template, defaults filled in."""
    from ..render.templates import resolve_template

    t = resolve_template(name)
    if json:
        emit_json(t)
    else:
        import yaml

        typer.echo(yaml.safe_dump(t, sort_keys=False, allow_unicode=True))


@templates_app.command("preview")
@handle_errors()
def templates_preview(
    name: str = typer.Argument(..., help="Template name or path."),
    out: str = typer.Option(
        "previews", "--out", "-o", help="Folder for NAME.mp4 (the sample) and NAME.png (its contact sheet)."
    ),
    animation: str | None = typer.Option(
        None,
        "--animation",
        help="Show the captions animated this way: pop, highlight, chunk or none (files NAME-ANIMATION.*).",
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Render a short offline sample of a template (captions, title card, transitions) and a contact sheet of
    its frames."""
    from ..ops.previews import preview

    p = preview(name, out, animation=animation)
    if json:
        emit_json(p.to_dict())
        return
    console.print(f"sample        {p.video}  ({p.duration:.1f} s)", highlight=False, markup=False)
    console.print(
        f"contact sheet {p.sheet}  ({p.sheet_size[0]}x{p.sheet_size[1]}, frames at "
        f"{', '.join(f'{t:g}' for t in p.frames)} s)",
        highlight=False,
        markup=False,
    )
