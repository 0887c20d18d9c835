"""Hosted sync: fenta's jobs in a Supabase project, both ways (see docs in README "Hosted sync").

    push      local jobs -> hosted rows, events, usage and renders (`fenta run --sync`, `sync: true`,
              FENTA_SYNC=1, `fenta sync`), driven by the event log with its own cursor; passes of
              push_job (one job's row, events, usage and files)
    worker    hosted `queued` rows that carry a workflow -> rendered here (`fenta worker --hosted`)
    schema    the SQL a user runs once (`fenta sync sql`)

Configured by FENTA_API_URL, FENTA_API_KEY (sent as `apikey`) and FENTA_API_TOKEN (the Bearer; the key
when unset). Keys never reach fenta.db, logs, events or hosted rows.
"""

from __future__ import annotations

from .push import Background, PushReport, after_run, pending_count, push, push_async, status
from .push_job import JobPush
from .schema import BUCKET, SCHEMA_SQL, TABLES
from .state import signed_video_url

__all__ = [
    "push",
    "push_async",
    "status",
    "after_run",
    "pending_count",
    "Background",
    "JobPush",
    "PushReport",
    "SCHEMA_SQL",
    "TABLES",
    "BUCKET",
    "signed_video_url",
    "HostedWorker",
]


def __getattr__(name: str):
    if name == "HostedWorker":
        from .worker import HostedWorker

        return HostedWorker
    raise AttributeError(name)
