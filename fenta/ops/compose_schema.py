"""The strict JSON Schema of `fenta new`'s answer: a workflow document in the graph shape.

Structured outputs (`response_format: json_schema, strict: true`) accept a subset of JSON Schema:
every object closed (`additionalProperties: false`) with every property required, no `$ref`, and
some providers refuse bounds keywords. So each node type's params schema (from its pydantic model)
is rewritten into that subset: an optional param becomes nullable (null: the default, which the
answer checker drops), a bound moves into the description, and a free-form mapping is left out
(the model leaves it at its default). One `anyOf` variant per node type ties `type` to its params.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["answer_schema"]

#: JSON Schema keywords some structured-output providers refuse; their meaning moves into the description.
_BOUNDS = {
    "minimum": ">= {}",
    "maximum": "<= {}",
    "exclusiveMinimum": "> {}",
    "exclusiveMaximum": "< {}",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "pattern": "matching {}",
}


def _strict(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`schema` in the strict subset: closed objects, every property required, no bounds keywords."""
    if "$ref" in schema:
        target = _strict(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {**target, **({"description": schema["description"]} if schema.get("description") else {})}
    out: dict[str, Any] = {}
    notes = [word.format(schema[k]) for k, word in _BOUNDS.items() if k in schema]
    for k, v in schema.items():
        if k in ("anyOf", "oneOf"):
            out["anyOf"] = [_strict(s, defs) for s in v]
        elif k == "items":
            out["items"] = _strict(v, defs)
        elif k == "const":
            out["enum"] = [v]
        elif k in ("type", "enum", "description"):
            out[k] = v
    if schema.get("type") == "object" or "properties" in schema:
        required = set(schema.get("required") or [])
        props = {}
        for name, sub in (schema.get("properties") or {}).items():
            if sub.get("type") == "object" and "properties" not in sub and sub.get("additionalProperties"):
                continue  # a free-form mapping has no strict form: the model leaves it at its default
            s = _strict(sub, defs)
            if name not in required:
                s = _nullable(s, sub.get("default"))
            props[name] = s
        out.update(type="object", properties=props, required=list(props), additionalProperties=False)
    elif not any(k in out for k in ("type", "anyOf", "enum")):  # Any: a plain value
        out["anyOf"] = [{"type": t} for t in ("string", "number", "boolean", "null")]
    if notes:
        out["description"] = f"{out.get('description', '')} ({', '.join(notes)})".strip()
    return out


def _nullable(s: dict[str, Any], default: Any) -> dict[str, Any]:
    desc = s.pop("description", "")
    note = (
        f"null: the default ({json.dumps(default, default=str)})" if default is not None else "null: not set"
    )
    if "anyOf" in s and not s.get("type"):
        branches = (
            s["anyOf"]
            if any(b.get("type") == "null" for b in s["anyOf"])
            else [*s["anyOf"], {"type": "null"}]
        )
        return {"anyOf": branches, "description": f"{desc} {note}".strip()}
    return {"anyOf": [s, {"type": "null"}], "description": f"{desc} {note}".strip()}


def answer_schema() -> dict[str, Any]:
    """The strict JSON Schema of an answer: a workflow document in the graph shape, one variant per node
    type."""
    from ..nodes.base import registry
    from ..template import list_templates

    variants = []
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None
        raw = cls.Params.model_json_schema()
        params = _strict(raw, raw.get("$defs") or {})
        data = {
            "type": "object",
            "properties": {"params": params},
            "required": ["params"],
            "additionalProperties": False,
        }
        variants.append(
            {
                "type": "object",
                "description": cls.description,
                "properties": {
                    "id": {"type": "string", "description": "Node id: letters, digits, '_' and '-'."},
                    "type": {"type": "string", "enum": [name]},
                    "data": data,
                },
                "required": ["id", "type", "data"],
                "additionalProperties": False,
            }
        )
    s = {"type": "string"}
    edge = {
        "type": "object",
        "properties": {
            "source": {**s, "description": "Node id the value comes from."},
            "sourceHandle": {**s, "description": "Its output port."},
            "target": {**s, "description": "Node id it goes to."},
            "targetHandle": {**s, "description": "Its input port."},
        },
        "required": ["source", "sourceHandle", "target", "targetHandle"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "version": {"type": "integer", "enum": [1]},
            "name": {**s, "description": "Short, lowercase, with dashes."},
            "description": {
                "anyOf": [s, {"type": "null"}],
                "description": (
                    "What the video is; wishes a workflow cannot hold (a schedule, where to post)."
                ),
            },
            "template": {"type": "string", "enum": sorted(list_templates())},
            "nodes": {"type": "array", "items": {"anyOf": variants}},
            "edges": {"type": "array", "items": edge},
        },
        "required": ["version", "name", "description", "template", "nodes", "edges"],
        "additionalProperties": False,
    }
