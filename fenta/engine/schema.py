"""JSON Schema of the workflow format, built from the registered node types."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import ConfigDict, Field, create_model

from ..nodes.base import registry
from .spec.layout import _Retry  # the model the loader checks `retry:` with

__all__ = ["workflow_schema"]


def workflow_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for the `inputs:` shape, with per-type params."""
    variants = []
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None
        variants.append(
            create_model(
                "Node_" + name.replace(".", "_"),
                __config__=ConfigDict(extra="forbid", title=name),
                __doc__=cls.description or name,
                type=(Literal[name], ...),  # type: ignore[arg-type]  # a Literal built at run time
                params=(cls.Params, Field(default_factory=dict)),
                inputs=(
                    dict[str, str | list[str]],
                    Field(default_factory=dict, description="port: node.port"),
                ),
            )
        )
    # A union of types known only at run time: `X | Y` has no spelling for a tuple of them.
    node_union = Union[tuple(variants)]  # type: ignore[valid-type]  # noqa: UP007
    doc = create_model(
        "Workflow",
        __config__=ConfigDict(extra="forbid"),
        version=(Literal[1], 1),
        name=(str | None, None),
        description=(str | None, None),
        template=(str | None, Field(None, description="A shipped template name or a path to one.")),
        overrides=(dict[str, Any], Field(default_factory=dict, description="Template fields to override.")),
        vars=(dict[str, Any], Field(default_factory=dict, description="Defaults for ${vars.NAME}.")),
        retry=(
            _Retry | None,
            Field(
                None,
                description=(
                    "How a failed job is retried: max_retries (default 3 for queued jobs), base_seconds "
                    "(first wait, default 10)."
                ),
            ),
        ),
        nodes=(dict[str, node_union], ...),  # type: ignore[valid-type]
    )
    schema = doc.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "fenta workflow"
    return schema
