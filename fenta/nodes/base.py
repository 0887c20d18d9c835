"""What a node type is written with: the `Node` base class and its `Params` and `Ports`, plus the
names every node module uses from `context` (`NodeContext`, `CheckContext`, `JobRecorder`, the
paths params name) and `registry` (`register`, `registry`), so a node (or a plugin's) imports them
from here.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ..types import port_type_name
from .context import CheckContext, JobRecorder, NodeContext, checked_path, file_stamp, local_path
from .registry import Registry, register, registry

__all__ = [
    "Node",
    "NodeContext",
    "CheckContext",
    "JobRecorder",
    "Params",
    "Ports",
    "registry",
    "register",
    "Registry",
    "local_path",
    "checked_path",
    "file_stamp",
]


class Params(BaseModel):
    """Base for a node's params: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Ports(BaseModel):
    """Base for a node's input and output ports."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class Node:
    """Base class of every node type.

    Subclasses set `type` (``Category.Name``), `version`, and the pydantic
    models `Params`, `Inputs` and `Outputs`, and implement `run`. Bump
    `version` whenever the output for the same params and inputs changes, so
    cached results are not reused.
    """

    type: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    # builtins.type: inside this class, `type` is the node type's name above
    Params: ClassVar[builtins.type[BaseModel]] = Params
    Inputs: ClassVar[builtins.type[BaseModel]] = Ports
    Outputs: ClassVar[builtins.type[BaseModel]] = Ports
    #: Concurrency class: "cpu" (bounded by cores), "io", or a provider name.
    resource: ClassVar[str] = "io"
    #: Whether results may be reused from the cache for equal params and inputs.
    cacheable: ClassVar[bool] = True
    #: Whether the montage template affects the result (it then joins the cache key).
    uses_template: ClassVar[bool] = False

    async def run(self, ctx: NodeContext, params: Any, inputs: Any) -> BaseModel:
        raise NotImplementedError

    def finished_events(self, output: dict[str, Any], job_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Events (type, data) the job's log gets when a run of this node completes (not when its result
        comes from the cache), written with its checkpoint: `video.published` for a publish node."""
        return []

    def fingerprint(self, params: Any, inputs: Any, *, workflow_file: str | None = None) -> str | None:
        """Extra cache-key material, e.g. a hash of local files the params name."""
        return None

    def local_paths(self, params: Any) -> list[tuple[str, str]]:
        """(field path, path as written) for every local file these params name: not URLs, not library
        ids, not names of installed things. The trust policy checks each one at validation and again
        before the node's fingerprint and run (an untrusted workflow names no file outside
        FENTA_ALLOWED_DIRS); a node whose params name files must list them here."""
        return []

    def estimate_cost(self, params: Any, template: dict[str, Any]) -> dict[str, float]:
        """Estimated spend of one run, per provider (empty for free nodes)."""
        return {}

    def validate_params(self, params: Any, template: dict[str, Any]) -> list[tuple[str, str]]:
        """Extra checks beyond the Params model: a list of (field path like "params.model", message)."""
        return []

    def validate(self, params: Any, ctx: CheckContext) -> list[tuple[str, str]]:
        """Every static check of validated params, run by `fenta validate` and before any run.

        Returns (field path, message) pairs, one per problem: "params.paths[2]",
        "params.voice", or "template.subtitles.font". Values are already
        interpolated (`${vars.x}` filled in). Override this for checks that need
        the workflow's folder (local files) or the machine (installed voices);
        the default runs `validate_params`, so call `super().validate` to keep it.
        Checks must be quick and make no network call.
        """
        return self.validate_params(params, ctx.template)

    def required_keys(self, params: Any) -> set[str]:
        """Providers (names as in `fenta.config.KEY_NAMES`) whose API key a run with these params needs.

        The default is the provider named by `resource` when that provider takes a
        key (resource "openrouter" -> OPENROUTER_API_KEY); nodes that need more, or
        none for some params, override it. Used to list every missing key before a run.
        """
        from ..config import KEY_NAMES

        return {self.resource} if self.resource in KEY_NAMES else set()

    @classmethod
    def input_ports(cls) -> dict[str, str]:
        return {n: port_type_name(f.annotation) for n, f in cls.Inputs.model_fields.items()}

    @classmethod
    def output_ports(cls) -> dict[str, str]:
        return {n: port_type_name(f.annotation) for n, f in cls.Outputs.model_fields.items()}

    @classmethod
    def required_inputs(cls) -> set[str]:
        return {n for n, f in cls.Inputs.model_fields.items() if f.is_required()}
