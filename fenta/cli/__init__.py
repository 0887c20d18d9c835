"""The `fenta` command: thin typer commands over the SDK (the SDK never imports this)."""

from __future__ import annotations

# Each module adds its commands to `app`. Libraries only some commands need (rich.table, yaml,
# the engine) are imported inside those commands: every import here delays `fenta render`.
from . import (  # noqa: E402,F401
    account_cmds,  # noqa: E402,F401  (accounts connect/list/show/remove/test)
    asset_cmds,  # noqa: E402,F401  (assets add, list, show, rm, tag)
    author_cmds,  # noqa: E402,F401  (new, init)
    batch_cmds,  # noqa: E402,F401  (batch, batch run/status/resume)
    cache_cmds,  # noqa: E402,F401  (cache, cache prune)
    credits_cmds,  # noqa: E402,F401  (credits, kie-callbacks)
    inspect_cmds,
    jobs_cmds,
    queue_cmds,  # noqa: E402,F401  (submit, worker)
    quota_cmds,  # noqa: E402,F401  (quota ...)
    render_cmds,  # noqa: E402,F401
    run_cmds,
    schedule_cmds,  # noqa: E402,F401  (schedule ..., scheduler)
    serve_cmds,  # noqa: E402,F401  (serve, tokens create/list/revoke)
    sync_cmds,  # noqa: E402,F401  (sync, sync status, sync sql)
    system_cmds,
    usage_cmds,  # noqa: E402,F401  (usage)
    voice_cmds,  # noqa: E402,F401  (voices)
    webhook_cmds,  # noqa: E402,F401  (webhooks ...)
)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
