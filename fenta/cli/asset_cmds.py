"""assets add, list, show, rm, tag: the asset library."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import typer
from rich.markup import escape

from ..errors import AssetError, FentaError
from ._app import app, console, emit_json, handle_errors, print_error

assets_app = typer.Typer(
    help=(
        "Your clips, stills and audio, stored once, probed once, tagged; use them with Input.Asset "
        "{asset: ID} or {tag: NAME}."
    ),
    no_args_is_help=True,
)
app.add_typer(assets_app, name="assets")


class Kind(str, Enum):
    video = "video"
    image = "image"
    audio = "audio"


def _size(n: int) -> str:
    from ..engine.cache import human_size  # the units `fenta cache` uses (KiB, MiB)

    return human_size(n)


def _what(a: Any) -> str:
    """'2.0 s 1920x1080 30 fps, sound' in a few words."""
    parts = []
    if a.duration is not None:
        parts.append(f"{a.duration:.1f} s")
    if a.width and a.height:
        parts.append(f"{a.width}x{a.height}")
    if a.fps:
        parts.append(f"{a.fps:g} fps")
    if a.kind == "video":
        parts.append("sound" if a.has_audio else "silent")
    if a.loudness is not None:
        parts.append(f"{a.loudness:g} LUFS")
    return " ".join(parts)


def _table(assets: list[Any]) -> None:
    from ._tables import table, whole

    t = table(whole("id"), "kind", "media", "size", "tags", "name")  # a long name wraps; the id stays whole
    for a in assets:
        t.add_row(a.id, a.kind, _what(a), _size(a.bytes), ", ".join(a.tags), a.name)
    console.print(t)


@assets_app.command("add")
@handle_errors()
def assets_add(
    sources: list[str] = typer.Argument(..., help="Media files or http(s) URLs to add."),
    tag: list[str] | None = typer.Option(
        None, "--tag", "-t", help="Tag every added asset (repeat for more tags)."
    ),
    max_mb: float = typer.Option(500, "--max-mb", help="Largest download from a URL (MB)."),
    json: bool = typer.Option(False, "--json", help="Print the added assets as JSON."),
) -> None:
    """Add files or URLs to the library (a file added twice is one asset; a URL is downloaded once).

    Each one is probed and gets a thumbnail; one that is not readable media is refused, naming it
    (the others are still added; exit 2).
    """
    from .. import library

    if not math.isfinite(max_mb) or max_mb <= 0:  # inf, nan, 0, -1: refused before anything is read
        why = f"the largest download must be a finite number of MB above 0, not {max_mb:g}"
        raise AssetError(why, field="--max-mb")
    tags = [library.clean_tag(t) for t in tag or []]  # a bad tag is one error, before any file is read
    added, failed = [], []
    for source in sources:
        try:
            added.append(library.add(source, tags=tags, max_bytes=int(max_mb * 1024 * 1024)))
        except FentaError as e:
            failed.append(e)
    if json:
        emit_json(
            {
                "status": "error" if failed else "ok",
                "assets": [a.to_dict() for a in added],
                "errors": [str(e) for e in failed],
                "exit_code": 2 if failed else 0,
            }
        )
    else:
        for a in added:
            state = "added" if a.new else "already in the library"
            console.print(
                f"[bold]{a.id}[/]  {a.kind}  {escape(_what(a))}  {escape(a.name)}  [dim]({state})[/]",
                highlight=False,
            )
        for error in failed:
            print_error(error)
    if failed:
        raise typer.Exit(max(e.exit_code for e in failed))


@assets_app.command("list")
@handle_errors()
def assets_list(
    kind: Kind | None = typer.Option(None, "--kind", case_sensitive=False, help="Only this kind of asset."),
    tag: str | None = typer.Option(None, "--tag", help="Only assets with this tag."),
    json: bool = typer.Option(
        False, "--json", help="Print as JSON (duration, size, thumbnail path, provenance, ...)."
    ),
) -> None:
    """List the library's assets in the order they were added."""
    from .. import library

    assets = library.list_assets(kind=kind.value if kind else None, tag=tag)
    if json:
        emit_json([a.to_dict() for a in assets])
    elif not assets and (kind or tag):
        wanted = " ".join(
            w for w in (kind.value if kind else "", "assets", f"tagged '{escape(tag)}'" if tag else "") if w
        )
        console.print(f"[dim]no {wanted} (`fenta assets list` shows them all)[/]", highlight=False)
    elif not assets:
        console.print(
            "[dim]no assets yet: add some with `fenta assets add FILE|URL --tag NAME`[/]", highlight=False
        )
    else:
        _table(assets)


@assets_app.command("show")
@handle_errors()
def assets_show(
    asset_id: str = typer.Argument(..., help="Asset id (or its first 4+ characters)."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Everything the library knows about one asset, provenance included."""
    from .. import library

    a = library.get(asset_id)
    if json:
        emit_json(a.to_dict())
        return
    rows = [
        ("id", a.id),
        ("kind", a.kind),
        ("media", _what(a)),
        ("size", f"{_size(a.bytes)} ({a.bytes} bytes)"),
        ("codecs", " / ".join(c for c in (a.video_codec, a.audio_codec) if c)),
        ("tags", ", ".join(a.tags)),
        ("name", a.name),
        ("origin", a.origin),
        ("source", a.source or ""),
        ("file", a.path),
        ("thumbnail", a.thumbnail or ""),
    ]
    rows += [(k, str(v)) for k, v in a.provenance.items()]
    for k, v in rows:
        console.print(f"[bold]{k:<10}[/] {escape(v)}", highlight=False)


@assets_app.command("rm")
@handle_errors()
def assets_rm(
    asset_id: str = typer.Argument(..., help="Asset id (or its first 4+ characters)."),
    json: bool = typer.Option(False, "--json", help="Print the removed asset as JSON."),
) -> None:
    """Remove an asset: its record, tags, stored file and thumbnail."""
    from .. import library

    a = library.remove(asset_id)
    if json:
        emit_json(a.to_dict())
    else:
        console.print(f"removed {a.id} ({escape(a.name)})", highlight=False)


@assets_app.command("tag")
@handle_errors()
def assets_tag(
    asset_id: str = typer.Argument(..., help="Asset id (or its first 4+ characters)."),
    tags: list[str] = typer.Argument(..., help="Tags to add (or take off, with the remove flag)."),
    remove: bool = typer.Option(False, "--remove", help="Remove these tags instead of adding them."),
    json: bool = typer.Option(False, "--json", help="Print the asset as JSON."),
) -> None:
    """Tag an asset (Input.Asset {tag: NAME} then uses every asset with that tag)."""
    from .. import library

    a = (library.untag if remove else library.tag)(asset_id, *tags)
    if json:
        emit_json(a.to_dict())
    else:
        console.print(f"{a.id} tags: {escape(', '.join(a.tags) or '(none)')}", highlight=False)
