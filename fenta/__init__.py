"""fenta: turn a workflow graph into a finished short-form video, rendered locally.

import fenta
wf = fenta.load("workflow.yaml", vars={"topic": "Deep-sea fish"})
result = fenta.run(wf, out="renders/")           # or out="renders/clip.mp4", or name="clip"
print(result.job_id, result.video, result.artifacts, result.cost)

job_id = fenta.submit(wf, out="renders/")        # queued for `fenta worker` (or fenta.jobs.Worker)
print(fenta.jobs.get(job_id)["job"]["status"])   # fenta.jobs: list, get, events, retry, cancel, watch

theirs = fenta.load("from-a-user.json", trusted=False)   # someone else's: no local file outside
                                                         # FENTA_ALLOWED_DIRS (docs/security.md)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Public names -> the private module that defines them. Loaded on first use, so
# `import fenta` (and the CLI's start-up) stays fast.
_EXPORTS = {
    "Settings": "config",
    "Policy": "policy",
    "Event": "engine.events",
    "Plan": "engine.results",
    "RunResult": "engine.results",
    "plan": "engine.results",
    "resume": "ops.runs",
    "resume_async": "ops.runs",
    "run": "ops.runs",  # the engine's, with quotas before and usage and webhooks after
    "run_async": "ops.runs",
    "submit": "engine.queue",
    "jobs": "",  # the module fenta.jobs itself
    "library": "",  # the module fenta.library: the asset library (add, list_assets, get, remove, tag)
    "batch": "ops.batch",
    "new": "ops.compose",  # fenta new: a workflow from one sentence (OpenRouter)
    "init": "ops.starters",  # fenta init: a starter workflow and .env.example, offline
    "Workflow": "engine.spec",
    "load": "engine.spec",
    "loads": "engine.spec",
    "Node": "nodes.base",
    "NodeContext": "nodes.base",
    "Params": "nodes.base",
    "Ports": "nodes.base",
    "register": "nodes.base",
    "registry": "nodes.base",
}
_ERRORS: tuple[str, ...] = (
    "AuthError",
    "CostLimitError",
    "CreditsError",
    "FentaError",
    "JobError",
    "MediaError",
    "NodeError",
    "PathError",
    "Problem",
    "ProviderError",
    "QuotaError",
    "RateLimitError",
    "RenderError",
    "SpecError",
    "TemplateError",
    "FontError",
    "TextError",
    "FFmpegUnusable",
    "InvalidOutputError",
    "OutcomeUnknownError",
    "MissingKeysError",
    "ScheduleError",
    "WebhookError",
    "AssetError",
    "ClusterError",
    "ManifestError",
    "BatchError",
    "SyncError",
    "InputError",
    "ServeError",
)
_ERRORS += ("ComposeError",)
_ERRORS += ("URLError",)
_ERRORS += ("AccountError", "PublishLimitError")
_EXPORTS.update({name: "errors" for name in _ERRORS})

if TYPE_CHECKING:  # pragma: no cover - names for type checkers only, never imported at run time
    from . import jobs, library
    from .config import Settings
    from .engine.events import Event
    from .engine.queue import submit
    from .engine.results import Plan, RunResult, plan
    from .engine.spec import Workflow, load, loads
    from .errors import (
        AccountError,
        AssetError,
        AuthError,
        BatchError,
        ClusterError,
        ComposeError,
        CostLimitError,
        CreditsError,
        FentaError,
        FFmpegUnusable,
        FontError,
        InputError,
        InvalidOutputError,
        JobError,
        ManifestError,
        MediaError,
        MissingKeysError,
        NodeError,
        OutcomeUnknownError,
        PathError,
        Problem,
        ProviderError,
        PublishLimitError,
        QuotaError,
        RateLimitError,
        RenderError,
        ScheduleError,
        ServeError,
        SpecError,
        SyncError,
        TemplateError,
        TextError,
        URLError,
        WebhookError,
    )
    from .nodes.base import Node, NodeContext, Params, Ports, register, registry
    from .ops.batch import batch
    from .ops.compose import new
    from .ops.runs import resume, resume_async, run, run_async
    from .ops.starters import init
    from .policy import Policy


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fenta' has no attribute {name!r}")
    import importlib

    value = (
        importlib.import_module(f".{name}", __name__)
        if module == ""
        else getattr(importlib.import_module(f".{module}", __name__), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load",
    "loads",
    "run",
    "run_async",
    "resume",
    "resume_async",
    "submit",
    "jobs",
    "library",
    "plan",
    "Workflow",
    "RunResult",
    "Plan",
    "Event",
    "Settings",
    "Policy",
    "Node",
    "NodeContext",
    "Params",
    "Ports",
    "register",
    "registry",
    "FentaError",
    "SpecError",
    "Problem",
    "NodeError",
    "MediaError",
    "RenderError",
    "ProviderError",
    "AuthError",
    "CreditsError",
    "RateLimitError",
    "QuotaError",
    "CostLimitError",
    "JobError",
    "PathError",
    "TemplateError",
    "FontError",
    "TextError",
    "FFmpegUnusable",
    "InvalidOutputError",
    "OutcomeUnknownError",
    "MissingKeysError",
    "ScheduleError",
    "WebhookError",
    "AssetError",
    "ClusterError",
    "batch",
    "ManifestError",
    "BatchError",
    "new",
    "init",
    "ComposeError",
    "SyncError",
    "URLError",
    "InputError",
    "ServeError",
    "AccountError",
    "PublishLimitError",
]
