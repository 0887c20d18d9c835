"""Live per-node progress for a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.events import Event

_ICON = {"node.finished": "[green]✓[/]", "node.cached": "[cyan]↺[/]", "node.failed": "[red]✗[/]"}


class RunDisplay:
    """Consumes runner events; use as a context manager around the run."""

    def __init__(self, console: Console, node_types: dict[str, str] | None = None, enabled: bool = True) -> None:
        self.console = console
        self.types = dict(node_types or {})
        #: The job the events are about (known from the first event; for the Ctrl-C message).
        self.job_id: str | None = None
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self.progress = Progress(
            TextColumn("{task.fields[icon]}"),
            TextColumn("[bold]{task.fields[node]}[/] [dim]{task.fields[kind]}[/]"),
            BarColumn(bar_width=28),
            TaskProgressColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def __enter__(self) -> "RunDisplay":
        if self.live:
            self._add_tasks()
            self.progress.start()
        return self

    def _add_tasks(self) -> None:
        for nid, kind in self.types.items():
            if nid not in self.tasks:
                self.tasks[nid] = self.progress.add_task("", total=1.0, start=False, icon="[dim]·[/]", node=nid, kind=kind, note="waiting")

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, ev: Event) -> None:
        self.job_id = ev.job_id
        if ev.kind == "job.started":
            # A resumed (or reloaded) job brings its own nodes.
            self.types.update(ev.data.get("types") or {})
            if self.live:
                self._add_tasks()
        if not self.enabled:
            return
        nid = ev.node
        if self.live and nid in self.tasks:
            t = self.tasks[nid]
            if ev.kind == "node.started":
                self.progress.start_task(t)
                self.progress.update(t, icon="[yellow]▶[/]", note="running")
            elif ev.kind == "node.progress":
                self.progress.update(t, completed=ev.data.get("fraction", 0.0))
            elif ev.kind in _ICON:
                self.progress.start_task(t)
                note = {"node.cached": "cached", "node.failed": "failed"}.get(ev.kind, "done")
                if ev.data.get("resumed"):
                    note = "resumed"
                self.progress.update(t, completed=1.0, icon=_ICON[ev.kind], note=note)
                self.progress.stop_task(t)
            elif ev.kind == "message":
                self.progress.console.print(f"[yellow]{ev.data['level']}[/] {nid}: {ev.data['text']}", highlight=False)
            return
        # Plain mode (CI logs): one line per state change.
        if ev.kind == "node.started":
            self.started[nid or ""] = time.perf_counter()
            self.console.print(f"▶ {nid} ({self.types.get(nid or '', '')})", highlight=False)
        elif ev.kind in _ICON:
            secs = ev.data.get("seconds", 0.0)
            word = {"node.cached": "cached", "node.failed": "failed"}.get(ev.kind, "done")
            self.console.print(f"{_ICON[ev.kind]} {nid} {word} in {secs:.1f}s", highlight=False)
        elif ev.kind == "message":
            self.console.print(f"{ev.data['level']}: {nid}: {ev.data['text']}", highlight=False)
