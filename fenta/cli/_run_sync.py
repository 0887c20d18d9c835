"""`fenta run --sync` (or `sync: true`, FENTA_SYNC=1): the job pushed to the hosted project while it
runs, what is left pushed once it ends, and one line (or the JSON's `sync`) about that push."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from ..config import Settings
from ._app import err_console

if TYPE_CHECKING:
    from ..engine.spec import Workflow

__all__ = ["start_sync", "push_sync", "finish_sync"]


def start_sync(wf: Workflow, settings: Settings, asked: bool) -> Any:
    """With --sync, `sync: true` or FENTA_SYNC=1: mark the job for the hosted project (so any later fenta
    process pushes what this one could not) and push its progress while it runs."""
    if not (asked or settings.sync or wf.document.get("sync") is True):
        return None
    from ..ops.sync import Background
    from ..ops.sync.client import check_configured

    check_configured(settings)  # FENTA_API_KEY missing: exit 2 before anything runs
    wf.document["sync"] = True
    return Background(settings, log=lambda m: err_console.print(m, highlight=False, markup=False)).start()


def push_sync(settings: Settings) -> Any:
    """Push what is left of the job (its final row, events and files; at most ~15 s): the push's report."""
    from ..ops.sync import after_run

    return after_run(settings)


def finish_sync(settings: Settings, job_id: str, as_json: bool, report: Any) -> dict[str, Any]:
    """One line about the job's push (`report`: `push_sync`'s, None when it failed or never ran)."""
    from ..engine.store import JobStore
    from ..ops.sync import signed_video_url

    store = JobStore(settings.db_path)
    try:
        url = signed_video_url(store, job_id)
    finally:
        store.close()
    error = report.error if report is not None else "the push failed"
    if not as_json:
        if error:
            err_console.print(
                f"[yellow]sync waits:[/] {escape(error)} (run `fenta sync` later)", highlight=False
            )
        else:
            err_console.print(
                f"synced to {escape(settings.urls['fenta'])}"
                + (f"  [dim]video[/] {escape(url)}" if url else ""),
                highlight=False,
            )
    return {"sync": {"synced": not error, "error": error, "video_url": url}}
