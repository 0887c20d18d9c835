"""render: re-render a saved timeline.json without running the workflow again."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from ._app import app, console, emit_json, err_console, handle_errors


@app.command("render")
@handle_errors()
def render_cmd(
    timeline: Path = typer.Argument(..., help="A timeline.json written by a run (the 'timeline' artifact)."),
    out: Path = typer.Option(
        Path("renders"),
        "-o",
        "--out",
        help="Folder for the video and thumbnail, or a file name ending in .mp4.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Base name of the files (default: the timeline file's name)."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace existing files of the same name (default: take the next free name, NAME-2.mp4).",
    ),
    profile: str = typer.Option("1080p", "--profile", help="Output size: 1080p, 720p, 480p, 360p or canvas."),
    preview: bool = typer.Option(
        False, "--preview", help="Quick low-resolution draft (360p, fastest encoder preset)."
    ),
    encoder: str = typer.Option(
        "x264",
        "--encoder",
        help=(
            "H.264 encoder: auto, x264, nvenc, qsv, vaapi or videotoolbox (one that fails here falls "
            "back to x264 with a notice)."
        ),
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Render a saved timeline.json again (same clips, captions and music) without re-running the graph.

    Existing files are never replaced without --overwrite: a taken name becomes NAME-2, NAME-3...
    """
    from ..engine.outputs import free_stem, resolve_output
    from ..render.profile import Profile
    from ..render.renderer import render as render_timeline
    from ..render.timeline import load_timeline

    if profile not in ("1080p", "720p", "480p", "360p", "canvas"):
        raise typer.BadParameter(
            f"unknown profile '{profile}': choose 1080p, 720p, 480p, 360p or canvas (--preview "
            "makes a quick draft)",
            param_hint="--profile",
        )
    from ..render.encoders import CHOICES

    if encoder not in CHOICES:
        raise typer.BadParameter(
            f"unknown encoder '{encoder}': choose {', '.join(CHOICES)}", param_hint="--encoder"
        )
    folder, name = resolve_output(out, name)
    tl = load_timeline(timeline)
    _check_inputs(tl, timeline)
    base = name or timeline.name.removesuffix(".json").removesuffix(".timeline") or "video"
    suffix = ".preview" if preview else ""
    if not overwrite:
        base = free_stem(
            base,
            lambda st: [(folder / f"{st}{suffix}{ext}", None) for ext in (".mp4", ".jpg")],
            may_replace=lambda _: False,
        )
    folder.mkdir(parents=True, exist_ok=True)
    video, thumb = folder / f"{base}{suffix}.mp4", folder / f"{base}{suffix}.jpg"
    prof = Profile.preview(encoder) if preview else Profile(name=profile, encoder=encoder)
    work = Path(tempfile.mkdtemp(prefix="fenta-render-"))
    try:
        with _render_bar(enabled=not json) as on_progress:
            info = asyncio.run(
                render_timeline(tl, video, thumb, profile=prof, workdir=work, on_progress=on_progress)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "video": str(video),
        "thumbnail": str(thumb) if thumb.exists() else None,
        "duration": info.duration,
        "size": f"{info.width}x{info.height}",
    }
    if json:
        emit_json(result)
    else:
        console.print(
            f"[bold green]✓ rendered[/] {escape(str(video))}  [dim]{result['size']}, "
            f"{info.duration or 0:.2f}s[/]",
            highlight=False,
        )


def _check_inputs(tl, timeline: Path) -> None:
    """Name a file the timeline needs that is gone, and when it was in fenta's cache, say so and
    how to make it again (a pruned cache), instead of failing inside FFmpeg.

    Raises:
        MediaError: naming the file and the timeline field that uses it (exit 2).
    """
    import os

    from ..config import Settings
    from ..errors import MediaError
    from ..render.inputs import input_files

    missing = [(role, path) for role, path in input_files(tl) if not Path(path).is_file()]
    if not missing:
        return
    role, path = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    cache = os.path.join(os.path.abspath(Settings.from_env().cache_dir), "")
    if not os.path.abspath(path).startswith(cache):
        raise MediaError(f"file not found{more}", file=path, field=role)
    raise MediaError(
        f"this file{more} was in fenta's cache and is gone (removed by `fenta cache prune`, or "
        f"FENTA_HOME changed); {_remake_hint(timeline)}",
        file=path,
        field=role,
    )


def _remake_hint(timeline: Path) -> str:
    """How to make a timeline's files again: run the workflow that wrote it, when a job did."""
    import os

    from ..config import Settings
    from ..engine.store import JobStore

    try:
        store = JobStore(Settings.from_env().db_path)
        try:
            workflow_file = store.workflow_file_of_artifact(os.path.abspath(timeline))
        finally:
            store.close()
    except Exception:  # noqa: BLE001 - only a hint
        workflow_file = None
    if workflow_file:
        return f"run the workflow again to make it: fenta run {workflow_file}"
    return "run the workflow that wrote this timeline again to make it"


@contextmanager
def _render_bar(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """A progress bar on a terminal's stderr while the render runs; nothing in logs or with --json."""
    if not (enabled and err_console.is_terminal):
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]rendering[/]"),
        BarColumn(bar_width=32),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("[dim]left[/]"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("render", total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)
