"""Before a run: the plan `--dry-run` prints (steps, estimated cost per provider, what would be posted
where, the keys), the question asked on a terminal before a run that costs money or posts a video, and
the --encoder choice checked. `fenta run`, `fenta submit` and `fenta new` share them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from ..config import Settings
from ..errors import CostLimitError
from ._app import console, emit_json, err_console

if TYPE_CHECKING:
    from ..engine.spec import Workflow

__all__ = ["cost_lines", "print_plan", "confirm_cost", "check_encoder_choice"]


def cost_lines(cost: dict[str, float]) -> list[str]:
    """The estimate per provider, in US dollars (KIE credits are converted at the price table's rate)."""
    total = round(sum(cost.values()), 4)
    lines = [f"estimated cost: ${total:.4f} (USD)"]
    width = max((len(p) for p in cost), default=0)
    lines += [f"  {provider.ljust(width)}  ${amount:.4f}" for provider, amount in sorted(cost.items())]
    return lines


def _posts(wf: Workflow) -> list[dict[str, Any]]:
    """What the workflow's publish nodes would post, and where (`Publish.*`; no network call)."""
    from ..nodes.publish import PublishNode

    settings = Settings.from_env()
    return [
        {"node": nid, **spec.node_class().plan_line(spec.parsed_params, spec.inputs, settings, wf.policy)}
        for nid, spec in wf.nodes.items()
        if issubclass(spec.node_class, PublishNode)
    ]


def _post_lines(posts: list[dict[str, Any]]) -> list[str]:
    from ..nodes.publish import describe

    return [f"  {p['node']}: {describe(p)}" for p in posts]


def print_plan(wf: Workflow, as_json: bool) -> None:
    """Print the plan (steps, estimated cost per provider, what would be posted where); nothing runs."""
    from ..engine.keys import describe, key_needs
    from ..engine.results import plan

    p = plan(wf)
    keys = key_needs(wf)  # names and whether set, never values
    posts = _posts(wf)
    if as_json:
        emit_json(
            {
                "status": "planned",
                "name": wf.name,
                "order": p.order,
                "cost": p.cost,
                "currency": "USD",
                "total_cost": p.total_cost,
                "keys": [k.to_dict() for k in keys],
                "publish": posts,
            }
        )
        return
    console.print(
        f"[bold]{escape(wf.name)}[/]: {len(wf.nodes)} nodes, template {wf.template['name']}", highlight=False
    )
    for i, layer in enumerate(p.order, 1):
        console.print(
            f"  step {i}: " + ", ".join(f"{n} [dim]({wf.nodes[n].type})[/]" for n in layer), highlight=False
        )
    for line in cost_lines(p.cost):
        console.print(line, highlight=False)
    if posts:
        console.print("would post:", highlight=False)
        for line in _post_lines(posts):
            console.print(line, highlight=False, markup=False)
    if keys:
        console.print(describe(keys), highlight=False, markup=False)


def confirm_cost(wf: Workflow, yes: bool, max_cost: float | None, as_json: bool) -> None:
    """Ask on a terminal before a run that costs money or posts a video (`--yes` skips)."""
    from ..engine.results import plan

    p = plan(wf)
    estimate = p.total_cost
    posts = _posts(wf)
    if estimate <= 0 and not posts:
        return
    if max_cost is not None and estimate > max_cost:
        raise CostLimitError(
            f"estimated cost {estimate:.4f} exceeds --max-cost {max_cost:.4f}; nothing was run"
        )
    if yes or as_json or not console.is_terminal:
        return
    if estimate > 0:
        for line in cost_lines(p.cost):
            err_console.print(line, highlight=False)
    if posts:
        err_console.print("this run posts:", highlight=False)
        for line in _post_lines(posts):
            err_console.print(line, highlight=False, markup=False)
    if not typer.confirm("Run it?", default=False, err=True):
        what = {(True, True): "the estimated cost and the posts were", (False, True): "the posts were"}.get(
            (estimate > 0, bool(posts)), "the estimated cost was"
        )
        err_console.print(f"not run: {what} declined (pass --yes to skip this question)", highlight=False)
        raise typer.Exit(1)


def check_encoder_choice(encoder: str | None) -> None:
    """--encoder: one of the names fenta knows (the job keeps it; each Render node uses it)."""
    from ..render.encoders import CHOICES

    if encoder is not None and encoder not in CHOICES:
        raise typer.BadParameter(
            f"unknown encoder '{encoder}': choose {', '.join(CHOICES)}", param_hint="--encoder"
        )
