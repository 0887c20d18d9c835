"""voices: list the speech engines' voices."""

from __future__ import annotations

import asyncio
from enum import Enum

import typer
from rich.markup import escape

from ..errors import FentaError
from ._app import app, console, emit_json, err_console, handle_errors


class Engine(str, Enum):
    espeak = "espeak"
    piper = "piper"
    edge = "edge"


@app.command()
@handle_errors()
def voices(
    engine: Engine | None = typer.Option(
        None,
        "--engine",
        "-e",
        case_sensitive=False,
        help="Only this engine (edge needs the network; espeak and piper are offline).",
    ),
    lang: str | None = typer.Option(
        None, "--lang", "-l", help="Only voices for this language, e.g. ru or en-US."
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List TTS voices per engine (the name goes into Voice.TTS params.voice)."""
    from ..tts.edge import NETWORK_ERRORS
    from ..tts.speech import list_voices

    try:
        rows = asyncio.run(list_voices(engine.value, lang)) if engine else []
    except NETWORK_ERRORS as e:
        raise FentaError(
            f"listing edge voices needs the network ({type(e).__name__}); offline engines: espeak, piper",
            field="--engine",
        ) from None
    notes: list[str] = []
    if engine is None:
        rows = asyncio.run(list_voices("espeak", lang)) + asyncio.run(list_voices("piper", lang))
        try:
            rows += asyncio.run(list_voices("edge", lang))
        except NETWORK_ERRORS as e:
            notes.append(f"edge voices need the network ({type(e).__name__}); showing offline engines only")
    if json:
        emit_json(rows)
        _warn(notes)
        return
    from ._tables import table, whole

    t = table("engine", whole("voice"), whole("language"), "about", title=f"Voices ({len(rows)})")
    for r in rows:
        t.add_row(r["engine"], r["name"], r["language"], r.get("description", ""))
    console.print(t)
    _warn(notes)


def _warn(notes: list[str]) -> None:
    for n in notes:
        err_console.print(f"[yellow]warning:[/] {escape(n)}")
