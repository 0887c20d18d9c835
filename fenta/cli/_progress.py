"""Live per-node progress for a terminal, plain lines otherwise.

A `RunDisplay` is a reader of the job's events: the runner hands them to it through its event bus,
from a task of its own (`fenta.engine.events.Bus`), never by calling it from inside a node.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from ..engine.events import Event

_DONE_ICON = {"completed": "[green]✓[/]", "cached": "[cyan]↺[/]"}
_FAILED_ICON = "[red]✗[/]"
_RETRY = "retry"


class RunDisplay:
    """Consumes a run's events; use as a context manager around the run."""

    def __init__(
        self, console: Console, node_types: dict[str, str] | None = None, enabled: bool = True
    ) -> None:
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
        self.attempt = 1

    def __enter__(self) -> RunDisplay:
        if self.live:
            self._add_tasks()
            self.progress.start()
        return self

    def _add_tasks(self) -> None:
        for nid, kind in self.types.items():
            if nid not in self.tasks:
                self.tasks[nid] = self.progress.add_task(
                    "", total=1.0, start=False, icon="[dim]·[/]", node=nid, kind=kind, note="waiting"
                )

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, ev: Event) -> None:
        self.job_id = ev.job_id
        if ev.type == "job.plan":
            # A resumed (or reloaded) job brings its own nodes.
            self.types.update(ev.data.get("types") or {})
            self.attempt = ev.data.get("attempt") or 1
            if self.live:
                self._add_tasks()
        if not self.enabled:
            return
        if self.live:
            self._live(ev)
        else:
            self._plain(ev)

    def _live(self, ev: Event) -> None:
        nid = ev.node
        if ev.type in ("job.waiting", "job.retrying"):
            seconds = ev.data.get("seconds", ev.data.get("delaySeconds", 0))
            note = f"attempt {ev.data.get('attempt')} in {seconds:.0f}s"
            if _RETRY not in self.tasks:
                self.tasks[_RETRY] = self.progress.add_task(
                    "", total=None, icon="[yellow]↻[/]", node="retry", kind="", note=note
                )
            self.progress.update(self.tasks[_RETRY], note=note)
            if ev.type == "job.retrying":
                self.progress.console.print(
                    f"[yellow]retrying[/] (attempt {ev.data.get('attempt')}) after: {ev.data.get('error')}",
                    highlight=False,
                    markup=True,
                )
            return
        if ev.type == "job.started" and _RETRY in self.tasks:
            self.progress.update(self.tasks[_RETRY], note="retrying now", total=1.0, completed=1.0)
            return
        if nid not in self.tasks:
            return
        t = self.tasks[nid]
        if ev.type == "node.started":
            self.progress.start_task(t)
            self.progress.update(t, icon="[yellow]▶[/]", note="running", completed=0.0)
        elif ev.type == "node.progress":
            self.progress.update(t, completed=ev.data.get("fraction", 0.0))
        elif ev.type in ("node.finished", "node.failed"):
            self.progress.start_task(t)
            status = ev.data.get("status", "failed")
            self.progress.update(
                t,
                completed=1.0,
                icon=_DONE_ICON.get(status, _FAILED_ICON),
                note={"completed": "done"}.get(status, status),
            )
            self.progress.stop_task(t)
        elif ev.type == "message":
            self.progress.console.print(
                f"[yellow]{ev.data['level']}[/] {nid}: {ev.data['text']}", highlight=False
            )

    def _plain(self, ev: Event) -> None:
        """One line per state change (CI logs)."""
        nid = ev.node
        if ev.type == "node.started":
            self.started[nid or ""] = time.perf_counter()
            self.console.print(f"▶ {nid} ({self.types.get(nid or '', '')})", highlight=False)
        elif ev.type == "node.finished":
            status = ev.data.get("status", "completed")
            word = {"completed": "done"}.get(status, status)
            self.console.print(
                f"{_DONE_ICON.get(status, '✓')} {nid} {word} in {ev.data.get('seconds', 0.0):.1f}s",
                highlight=False,
            )
        elif ev.type == "node.failed":
            self.console.print(f"{_FAILED_ICON} {nid} failed", highlight=False)
        elif ev.type == "job.retrying":
            self.console.print(
                f"↻ retrying in {ev.data.get('delaySeconds', 0):.1f}s (attempt "
                f"{ev.data.get('attempt')}) after: {ev.data.get('error')}",
                highlight=False,
                markup=False,
            )
        elif (
            ev.type == "job.waiting"
            and int(ev.data.get("seconds", 0)) % 10 == 0
            and ev.data.get("seconds", 0) >= 10
        ):
            self.console.print(
                f"  attempt {ev.data.get('attempt')} in {ev.data['seconds']:.0f}s", highlight=False
            )
        elif ev.type == "message":
            self.console.print(f"{ev.data['level']}: {nid}: {ev.data['text']}", highlight=False)
