"""A batch's live view: on a terminal an overall bar (passed, failed, running, ETA) and one line per
running row with the node it is at; plain lines for CI logs otherwise.

Like `RunDisplay`, it is a reader of the jobs' events (handed over by the worker's event bus).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse
from urllib.request import url2pathname

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from ..engine.events import Event


def file_path(url: str | None) -> str:
    """The path a `file://` URL names, as a person reads it (spaces and Cyrillic, not %20 and %D0%BF)."""
    if not url:
        return ""
    if not url.startswith("file://"):
        return url
    return url2pathname(urlparse(url).path)


class BatchDisplay:
    """Consumes a batch's events; `start` (the batch's `on_start`) opens it, `close` ends it."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.live_view = enabled and console.is_terminal
        self.rows: dict[str, dict[str, Any]] = {}  # job id -> {index, name}
        self.total = 0
        self.done = 0
        self.passed = 0
        self.failed = 0
        self.running: set[str] = set()
        self.progress: dict[str, float] = {}  # running row -> its job's progress (0..1)
        self.types: dict[str, dict[str, str]] = {}
        self.t0 = time.monotonic()
        self.overall = Progress(
            TextColumn("[bold]batch[/]"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn(
                "[green]{task.fields[passed]} passed[/]  [red]{task.fields[failed]} failed[/]  "
                "[yellow]{task.fields[running]} running[/]"
            ),
            TextColumn("[dim]eta[/]"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.each = Progress(
            TextColumn("  [yellow]▶[/] [bold]{task.description}[/]"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[node]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, Any] = {}
        self.bar: Any = None
        self.live: Live | None = None

    # ------------------------------------------------------------ life cycle

    def start(self, info: dict[str, Any]) -> None:
        """The batch's jobs are queued (`on_start`): learn its rows and open the view."""
        self.rows = {r["job_id"]: r for r in info["rows"] if r["job_id"]}
        self.total = len(info["rows"])
        self.done = self.passed = sum(1 for r in info["rows"] if r.get("status") == "completed")
        self.t0 = time.monotonic()
        if not self.enabled:
            return
        where = f" on {info['executor']}" if info.get("executor", "local") != "local" else ""
        before = f" ({self.passed} passed before)" if self.passed else ""
        self.console.print(
            f"batch {info['batch_id']}: {self.total} rows, {info['concurrency']} at a time{where}{before}",
            highlight=False,
            markup=False,
        )
        if self.live_view:
            self.bar = self.overall.add_task(
                "", total=self.total, completed=self.done, passed=self.passed, failed=0, running=0
            )
            self.live = Live(
                Group(self.overall, self.each), console=self.console, refresh_per_second=8, transient=False
            )
            self.live.start()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    # ------------------------------------------------------------ events

    def __call__(self, ev: Event) -> None:
        row = self.rows.get(ev.job_id or "")
        if row is None or not self.enabled:
            return
        job_id = cast(str, ev.job_id)  # a row was found under it
        t = ev.type
        if t == "job.plan":
            self.types[job_id] = ev.data.get("types") or {}
        elif t == "job.started":
            self.running.add(job_id)
            if self.live_view:
                self.tasks[job_id] = self.each.add_task(row["name"], total=1.0, node="starting")
            else:
                self._line(f"▶ {row['name']} started (row {row['index']})")
        elif t == "node.started" and job_id in self.tasks:
            kind = self.types.get(job_id, {}).get(ev.node or "", "")
            self.each.update(self.tasks[job_id], node=f"{ev.node} [dim]{kind}[/]")
        elif t == "job.progress" and job_id in self.tasks:
            self.progress[job_id] = float(ev.data.get("progress") or 0.0)
            self.each.update(self.tasks[job_id], completed=self.progress[job_id])
        elif t in ("job.completed", "job.dead", "job.cancelled"):
            self._ended(ev, row)
        elif t == "job.retrying":
            self._stop_row(job_id)
            self._line(
                f"↻ {row['name']} retrying in {ev.data.get('delaySeconds', 0):.1f}s (attempt "
                f"{ev.data.get('attempt')}) after: {ev.data.get('error')}",
                style="yellow",
            )
        elif t == "job.queued":  # given back (the batch is stopping)
            self._stop_row(job_id)
        elif t == "message" and self.live is not None:
            self.live.console.print(
                f"[yellow]{escape(str(ev.data.get('level')))}[/] {escape(row['name'])} "
                f"{escape(str(ev.node))}: {escape(str(ev.data.get('text')))}",
                highlight=False,
            )
        self._refresh()

    def _ended(self, ev: Event, row: dict[str, Any]) -> None:
        self._stop_row(ev.job_id)
        self.done += 1
        counts = ""
        if ev.type == "job.completed":
            self.passed += 1
            where = file_path(ev.data.get("videoUrl"))
            text, style = f"✓ {row['name']} passed  {where}", "green"
        elif ev.type == "job.dead":
            self.failed += 1
            text, style = f"✗ {row['name']} failed: {ev.data.get('error')}", "red"
        else:
            text, style = f"- {row['name']} not run (cancelled)", "dim"
        if not self.live_view:
            counts = f"  [{self.done}/{self.total}: {self.passed} passed, {self.failed} failed{self._eta()}]"
        self._line(text + counts, style=style)

    def _stop_row(self, job_id: str | None) -> None:
        self.running.discard(job_id or "")
        self.progress.pop(job_id or "", None)
        task = self.tasks.pop(job_id or "", None)
        if task is not None:
            self.each.remove_task(task)

    def _eta(self) -> str:
        left = self.total - self.done
        if not left or not self.done:
            return ""
        seconds = (time.monotonic() - self.t0) / self.done * left
        return f", about {seconds:.0f}s left"

    def _refresh(self) -> None:
        if self.bar is not None:
            # Running rows count with their progress, so the bar and its ETA move between rows that end.
            self.overall.update(
                self.bar,
                completed=self.done + sum(self.progress.values()),
                passed=self.passed,
                failed=self.failed,
                running=len(self.running),
            )

    def _line(self, text: str, style: str | None = None) -> None:
        """One line above the live view, or a log line with the time."""
        if self.live is not None:
            self.live.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text), highlight=False)
        else:
            self.console.print(
                f"{dt.datetime.now().strftime('%H:%M:%S')}  {text}", highlight=False, markup=False
            )
