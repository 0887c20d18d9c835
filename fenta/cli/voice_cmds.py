"""voices: list the speech engines' voices."""

from __future__ import annotations

import asyncio
from typing import Optional

import typer

from ..errors import FentaError
from ._app import app, console, emit_json, err_console, handle_errors


@app.command()
@handle_errors()
def voices(
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="Only this engine: espeak, piper or edge (edge needs the network)."),
    lang: Optional[str] = typer.Option(None, "--lang", "-l", help="Only voices for this language, e.g. ru or en-US."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List TTS voices per engine (the name goes into Voice.TTS params.voice)."""
    from ..tts.edge import NETWORK_ERRORS
    from ..tts.speech import list_voices

    if engine is not None and engine not in ("espeak", "piper", "edge"):
        raise FentaError(f"unknown engine '{engine}' (choose espeak, piper or edge)", field="--engine")
    try:
        rows = asyncio.run(list_voices(engine, lang)) if engine else []
    except NETWORK_ERRORS as e:
        raise FentaError(f"listing edge voices needs the network ({type(e).__name__}); offline engines: espeak, piper", field="--engine") from None
    notes: list[str] = []
    if engine is None:
        rows = asyncio.run(list_voices("espeak", lang)) + asyncio.run(list_voices("piper", lang))
        try:
            rows += asyncio.run(list_voices("edge", lang))
        except NETWORK_ERRORS as e:
            notes.append(f"edge voices need the network ({type(e).__name__}); showing offline engines only")
    if json:
        emit_json(rows)
        for n in notes:
            err_console.print(f"[yellow]warning:[/] {n}")
        return
    from rich.table import Table
    table = Table(title=f"Voices ({len(rows)})")
    for col in ("engine", "voice", "language", "about"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["engine"], r["name"], r["language"], r.get("description", ""))
    console.print(table)
    for n in notes:
        err_console.print(f"[yellow]warning:[/] {n}")
