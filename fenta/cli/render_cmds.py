"""render: re-render a saved timeline.json without running the workflow again."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer

from ._app import app, console, emit_json, err_console, handle_errors


@app.command("render")
@handle_errors()
def render_cmd(
    timeline: Path = typer.Argument(..., help="A timeline.json written by a run (the 'timeline' artifact)."),
    out: Path = typer.Option(Path("renders"), "-o", "--out", help="Folder for the video and thumbnail."),
    name: Optional[str] = typer.Option(None, "--name", help="Base name of the files (default: the timeline file's name)."),
    profile: str = typer.Option("1080p", "--profile", help="Output size: 1080p, 720p, 480p, 360p or canvas."),
    preview: bool = typer.Option(False, "--preview", help="Quick low-resolution draft (360p, fastest encoder preset)."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Render a saved timeline.json again (same clips, captions and music) without re-running the graph."""
    from ..render.compose import Profile, render as render_timeline
    from ..render.timeline import load_timeline

    if profile not in ("1080p", "720p", "480p", "360p", "canvas"):
        raise typer.BadParameter(f"unknown profile '{profile}': choose 1080p, 720p, 480p, 360p or canvas (--preview makes a quick draft)", param_hint="--profile")
    tl = load_timeline(timeline)
    base = name or timeline.name.removesuffix(".json").removesuffix(".timeline") or "video"
    if preview:
        base += ".preview"
    out.mkdir(parents=True, exist_ok=True)
    video, thumb = out / f"{base}.mp4", out / f"{base}.jpg"
    prof = Profile.preview() if preview else Profile(name=profile)
    work = Path(tempfile.mkdtemp(prefix="fenta-render-"))
    try:
        with _render_bar(enabled=not json) as on_progress:
            info = asyncio.run(render_timeline(tl, video, thumb, profile=prof, workdir=work, on_progress=on_progress))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"video": str(video), "thumbnail": str(thumb) if thumb.exists() else None, "duration": info.duration, "size": f"{info.width}x{info.height}"}
    if json:
        emit_json(result)
    else:
        console.print(f"[bold green]✓ rendered[/] {video}  [dim]{result['size']}, {info.duration or 0:.2f}s[/]", highlight=False)


@contextmanager
def _render_bar(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """A progress bar on a terminal's stderr while the render runs; nothing in logs or with --json."""
    if not (enabled and err_console.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]rendering[/]"), BarColumn(bar_width=32), TaskProgressColumn(), TimeElapsedColumn(), TextColumn("[dim]left[/]"), TimeRemainingColumn(),
        console=err_console, transient=True,
    ) as bar:
        task = bar.add_task("render", total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)
