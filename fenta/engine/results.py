"""What the job core's layers share: a run's result, its plan, its run options and output checks.

`RunResult` is what one attempt (or a whole `fenta run`) came to; `plan` orders the nodes and
estimates their cost without running anything; the run options (`preview`, `encoder`) set params of
every node of a type and survive a resume; `prepare` checks the output folder and `FENTA_HOME` before
anything runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..config import Settings
from ..errors import Problem, SpecError
from .graph import layers
from .outputs import check_home, resolve_output
from .workflow import NodeSpec, Workflow

__all__ = ["RunResult", "Plan", "plan", "check_options", "apply_options", "prepare"]


@dataclass
class RunResult:
    """What a run (or one attempt of a job) produced.

    Attributes:
        status: "completed", "failed" or "cancelled".
        state: The job's state afterwards: completed, failed (a retry is due at `next_attempt_at`),
            dead (not retryable, or out of retries), cancelled, or queued (its worker stopped).
        retryable: Whether another attempt could succeed (a network error, a timeout, a crash).
        attempt: The attempt's number (1 for the first).
    """

    job_id: str
    status: str
    video: str | None
    artifacts: dict[str, str]
    cost: float
    seconds: float
    outputs: dict[str, dict[str, Any]]
    error: str | None = None
    retryable: bool | None = None
    nodes: dict[str, str] = field(default_factory=dict)
    state: str = ""
    attempt: int = 1
    next_attempt_at: str | None = None
    #: The CLI's exit status for a run that did not complete: 2 when the failure was bad input
    #: (a script with nothing to say, a file that is not media), else 1.
    exit_code: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "state": self.state or self.status,
            "attempt": self.attempt,
            "video": self.video,
            "artifacts": self.artifacts,
            "cost": self.cost,
            "seconds": round(self.seconds, 3),
            "nodes": self.nodes,
            "error": self.error,
            "retryable": self.retryable,
            "exit_code": 0 if self.status == "completed" else self.exit_code,
        }


@dataclass
class Plan:
    """Run order and estimated cost, computed without running anything."""

    order: list[list[str]]
    cost: dict[str, float]

    @property
    def total_cost(self) -> float:
        return round(sum(self.cost.values()), 4)


def plan(workflow: Workflow) -> Plan:
    """Order nodes and estimate spend per provider; makes no network call."""
    cost: dict[str, float] = {}
    for n in workflow.nodes.values():
        for provider, amount in n.node_class().estimate_cost(n.parsed_params, workflow.template).items():
            cost[provider] = cost.get(provider, 0.0) + amount
    return Plan(order=layers(workflow), cost=cost)


#: Run options that set a param of every node of a type (so they join its cache key):
#: option -> (type, param).
_NODE_OPTIONS = {"preview": ("Render", "preview"), "encoder": ("Render", "encoder")}


def _option_targets(workflow: Workflow, option: str) -> list[NodeSpec]:
    node_type, param = _NODE_OPTIONS[option]
    return [
        s
        for s in workflow.nodes.values()
        if s.type == node_type and s.parsed_params is not None and param in type(s.parsed_params).model_fields
    ]


def _params(spec: NodeSpec) -> BaseModel:
    assert spec.parsed_params is not None  # `_option_targets` keeps only nodes with params
    return spec.parsed_params


def check_options(workflow: Workflow, options: dict[str, Any]) -> None:
    """Raise `SpecError` (naming the option) when a run option's value does not fit the params it sets."""
    for option, value in options.items():
        if option not in _NODE_OPTIONS or value in (None, False):
            continue
        param = _NODE_OPTIONS[option][1]
        for spec in _option_targets(workflow, option):
            annotation = type(_params(spec)).model_fields[param].annotation
            try:
                TypeAdapter(annotation if annotation is not None else Any).validate_python(value)
            except ValidationError:
                choices = getattr(annotation, "__args__", None)
                listed = f": choose {', '.join(map(str, choices))}" if choices else ""
                problem = Problem(
                    f"--{option} {value!r} is not a valid {param}{listed}",
                    file=workflow.file,
                    node=spec.id,
                    field=param,
                )
                raise SpecError([problem], file=workflow.file) from None


def apply_options(workflow: Workflow, options: dict[str, Any]) -> None:
    """Run options that change what nodes do (so they join cache keys) and must survive a resume:
    `preview` (a quick draft, cached apart from the full render) and `encoder` (`--encoder`)."""
    check_options(workflow, options)
    for option, value in options.items():
        if option in _NODE_OPTIONS and value not in (None, False):
            param = _NODE_OPTIONS[option][1]
            for spec in _option_targets(workflow, option):
                spec.parsed_params = _params(spec).model_copy(update={param: value})


def prepare(
    *, out: str | os.PathLike[str] = "renders", name: str | None = None, settings: Settings | None = None
) -> tuple[Path, str | None]:
    """Check, before anything runs, that the output folder and `FENTA_HOME` can be written.

    Returns:
        (output folder, base name or None) as `run` will use them.

    Raises:
        PathError: the folder, the name or `FENTA_HOME` cannot be used (exit 2 in the CLI).
    """
    settings = settings or Settings.from_env()
    folder, base = resolve_output(out, name)
    check_home(settings.home)
    return folder, base
