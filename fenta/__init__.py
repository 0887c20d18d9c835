"""fenta: turn a workflow graph into a finished short-form video, rendered locally.

    import fenta
    wf = fenta.load("workflow.yaml", vars={"topic": "Deep-sea fish"})
    result = fenta.run(wf, out="renders/")
    print(result.job_id, result.video, result.artifacts, result.cost)
"""

from __future__ import annotations

from .config import Settings
from .engine.runner import Event, Plan, RunResult, plan, resume, resume_async, run, run_async
from .engine.spec import Workflow, load, loads
from .errors import (
    AuthError,
    CostLimitError,
    CreditsError,
    FentaError,
    JobError,
    MediaError,
    NodeError,
    Problem,
    ProviderError,
    QuotaError,
    RateLimitError,
    RenderError,
    SpecError,
)
from .nodes.base import Node, NodeContext, Params, Ports, register, registry

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load",
    "loads",
    "run",
    "run_async",
    "resume",
    "resume_async",
    "plan",
    "Workflow",
    "RunResult",
    "Plan",
    "Event",
    "Settings",
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
]
