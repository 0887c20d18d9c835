"""The `fenta` command: thin typer commands over the SDK (the SDK never imports this)."""

from __future__ import annotations

from ._app import app

# Each module adds its commands to `app`. Libraries only some commands need (rich.table, yaml,
# the engine) are imported inside those commands: every import here delays `fenta render`.
from . import inspect_cmds, jobs_cmds, run_cmds, system_cmds  # noqa: E402,F401
from . import render_cmds  # noqa: E402,F401
from . import credits_cmds  # noqa: E402,F401  (credits, kie-callbacks)
from . import voice_cmds  # noqa: E402,F401  (voices)
from . import usage_cmds  # noqa: E402,F401  (usage)
from . import cache_cmds  # noqa: E402,F401  (cache, cache prune)
from . import queue_cmds  # noqa: E402,F401  (submit, worker)
from . import schedule_cmds  # noqa: E402,F401  (schedule ..., scheduler)
from . import webhook_cmds  # noqa: E402,F401  (webhooks ...)
from . import quota_cmds  # noqa: E402,F401  (quota ...)
from . import sync_cmds  # noqa: E402,F401  (sync, sync status, sync sql)
from . import batch_cmds  # noqa: E402,F401  (batch, batch run/status/resume)
from . import author_cmds  # noqa: E402,F401  (new, init)
from . import asset_cmds  # noqa: E402,F401  (assets add, list, show, rm, tag)
from . import serve_cmds  # noqa: E402,F401  (serve, tokens create/list/revoke)
from . import account_cmds  # noqa: E402,F401  (accounts connect/list/show/remove/test)

__all__ = ["app", "main"]


def main() -> None:
    app()
