"""`fenta new`: a workflow written by an LLM from one sentence, checked by fenta's own loader.

The model (OpenRouter, the "strong" tier unless told otherwise) gets the node catalogue, the workflow
JSON Schema, the shipped templates and two example workflows (the `stock` and `quickstart` starters,
which ship inside the package), and answers in strict JSON (a `json_schema` response format:
`ops.compose_schema`) that is the workflow document itself, in the graph shape. The answer goes
through `engine.spec.loads` like any file; its problems go back to the model, which tries again: at
most `MAX_ROUNDS` rounds in all.
The prompt text is data: `fenta/prompts/compose.yaml`. Every response's tokens and cost are
recorded in `usage_records`, like Script.Gen's, with no job (nothing ran in one).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import KEY_NAMES, Settings
from ..errors import ComposeError, MissingKeysError, PathError, Problem, SpecError
from .compose_schema import answer_schema

__all__ = ["MAX_ROUNDS", "Composed", "new", "new_async", "compose_messages", "check_answer", "node_catalogue"]

MAX_ROUNDS = 3
_MAX_TOKENS = 8000
_TEMPERATURE = 0.2


@dataclass
class Composed:
    """A workflow `new` wrote.

    Attributes:
        path: The file written.
        workflow: It, loaded and validated.
        text: Its YAML text.
        rounds: Requests it took (1 when the first answer validated).
        model: The OpenRouter model id asked.
        tokens: Tokens used over all rounds.
        cost: What they cost (credits, about USD), when the service said.
        description: The workflow's description (where the model notes what a workflow cannot hold).
    """

    path: Path
    workflow: Any
    text: str
    rounds: int
    model: str
    tokens: int = 0
    cost: float | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        from ..engine.results import plan

        p = plan(self.workflow)
        return {
            "status": "ok",
            "file": str(self.path),
            "name": self.workflow.name,
            "nodes": list(self.workflow.nodes),
            "template": self.workflow.template_name,
            "description": self.description,
            "rounds": self.rounds,
            "model": self.model,
            "tokens": self.tokens,
            "cost": self.cost,
            "estimated_run_cost": p.cost,
            "estimated_run_total": p.total_cost,
        }


# -- what the model gets ---------------------------------------------------------------------


def node_catalogue() -> str:
    """Every node type: what it does, its ports with their kinds, its params with defaults."""
    from ..nodes.base import registry

    lines = []
    for name in registry.names():
        cls = registry.get(name)
        assert cls is not None
        required = cls.required_inputs()
        ins = (
            ", ".join(
                f"{p}: {t}" + (" (required)" if p in required else "") for p, t in cls.input_ports().items()
            )
            or "none"
        )
        outs = ", ".join(f"{p}: {t}" for p, t in cls.output_ports().items()) or "none"
        params = []
        for pname, f in cls.Params.model_fields.items():
            shown = (
                "required"
                if f.is_required()
                else "default "
                + json.dumps(f.get_default(call_default_factory=True), default=str, ensure_ascii=False)
            )
            params.append(f"{pname} ({shown})")
        lines += [
            f"- {name}: {cls.description}",
            f"  inputs: {ins}",
            f"  outputs: {outs}",
            f"  params: {', '.join(params) or 'none'}",
        ]
    return "\n".join(lines)


def _template_lines() -> str:
    from ..template import list_templates, resolve_template

    out = []
    for name in list_templates():
        t = resolve_template(name)
        c = t["canvas"]
        out.append(f"- {name}: {c['width']}x{c['height']}, {t.get('description') or ''}".rstrip(", "))
    return "\n".join(out)


def _graph_shape(wf: Any) -> dict[str, Any]:
    """A loaded workflow as the answer should look: graph shape, variables filled in."""
    doc: dict[str, Any] = {"version": 1, "name": wf.name, "template": wf.template_name}
    doc["nodes"] = [{"id": n.id, "type": n.type, "data": {"params": n.params}} for n in wf.nodes.values()]
    doc["edges"] = [
        {"source": s, "sourceHandle": sp, "target": t, "targetHandle": tp} for s, sp, t, tp in wf.edges()
    ]
    return doc


def _examples() -> str:
    from ..engine.spec import loads
    from .starters import starter_text

    out = []
    for kind, name in (("stock", "octopus-facts"), ("quickstart", "three-hearts")):
        wf = loads(starter_text(kind, name, "karaoke-bold"))
        out.append(json.dumps(_graph_shape(wf), ensure_ascii=False))
    return "\n".join(out)


def compose_messages(prompt: str, template: str | None = None) -> list[dict[str, str]]:
    """The chat messages of the first round (system: catalogue, schema, templates, examples)."""
    from ..engine.schema import workflow_schema
    from ..nodes.script import load_prompt

    p = load_prompt("compose")
    system = p["system"].format(
        catalogue=node_catalogue(),
        templates=_template_lines(),
        schema=json.dumps(workflow_schema(), separators=(",", ":")),
        examples=_examples(),
    )
    line = p["template_line"].format(template=template) if template else ""
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": p["user"].format(prompt=prompt, template_line=line).strip()},
    ]


# -- checking an answer ---------------------------------------------------------------------


def _drop_nulls(value: Any) -> Any:
    """null means "the default" in an answer: leave those params out, as a person would."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _parse(content: str) -> Any:
    s = (content or "").strip()
    if s.startswith("```"):  # some models fence JSON despite the schema
        s = s.strip("`")
        s = s[s.find("\n") + 1 :] if "\n" in s else s
        s = s.rsplit("```", 1)[0]
    return json.loads(s)


def check_answer(
    content: str, *, file: str | None = None, template: str | None = None, cut_off: bool = False
) -> tuple[Any, list[Problem]]:
    """Load one answer with the normal loader: (workflow, []) when valid, else (None, problems).

    Problems carry node and field but no file or line: lines of the JSON text would only mislead.
    """
    from ..engine.spec import loads

    try:
        doc = _parse(content)
    except ValueError:
        why = " (cut off: it reached max_tokens)" if cut_off else ""
        return None, [Problem(f"the answer is not JSON{why}; answer with the workflow document only")]
    if not isinstance(doc, dict):
        return None, [Problem("the answer must be one JSON object: the workflow document")]
    doc = _drop_nulls(doc)
    if template:
        doc["template"] = template  # the user's --template wins over the model's choice
    try:
        return loads(json.dumps(doc, ensure_ascii=False), file=file), []
    except SpecError as e:
        return None, [replace(p, file=None, line=None) for p in e.problems]


def workflow_yaml(wf: Any, *, prompt: str, model: str, description: str | None = None) -> str:
    """The workflow as a person would write it: the `inputs:` shape, with a header saying where it came
    from."""
    import yaml

    doc = wf.document
    body: dict[str, Any] = {"version": 1, "name": wf.name}
    if description:
        body["description"] = description
    if wf.template_name:
        body["template"] = wf.template_name
    for key in ("overrides", "vars"):
        if doc.get(key):
            body[key] = doc[key]
    if wf.retry:
        body["retry"] = wf.retry
    nodes = {}
    for nid, n in doc["nodes"].items():
        entry: dict[str, Any] = {"type": n["type"]}
        if n["params"]:
            entry["params"] = n["params"]
        if n["inputs"]:
            entry["inputs"] = {p: refs[0] if len(refs) == 1 else refs for p, refs in n["inputs"].items()}
        nodes[nid] = entry
    body["nodes"] = nodes
    asked = " ".join(prompt.split())
    header = (
        f"# Written by `fenta new` ({model}) for:\n#   {asked}\n"
        f"#   fenta validate {wf.file}                # check it\n"
        f"#   fenta run {wf.file} --dry-run           # the plan and its estimated cost\n"
        f"#   fenta run {wf.file}                     # make the video\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110)


# -- the loop --------------------------------------------------------------------------------


def _no_key(settings: Settings) -> MissingKeysError:
    from ..engine.keys import KeyNeed

    var = KEY_NAMES["openrouter"]
    err = MissingKeysError([KeyNeed("openrouter", var, ["fenta new"])])
    # One line that says which key and what works without it (not the workflow-run wording).
    err.message = (
        f"{var} is not set: `fenta new` asks an LLM on OpenRouter (export it or put it in a .env file); "
        "`fenta init` writes a starter workflow offline"
    )
    err.args = (err.message,)
    return err


def _check_target(path: Path, force: bool) -> None:
    if path.is_dir():
        raise PathError(f"{path} is a folder; give a file name such as {path / 'workflow.yaml'}")
    if path.exists() and not force:
        raise PathError(f"{path} already exists; pass force=True to replace it, or choose another out=")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise PathError(f"{path}: the workflow is written as YAML; give a name ending in .yaml or .yml")


def new(prompt: str, out: str | Path = "workflow.yaml", **kwargs: Any) -> Composed:
    """Write a workflow for `prompt` to `out` (see `new_async`, which this runs)."""
    return asyncio.run(new_async(prompt, out, **kwargs))


async def new_async(
    prompt: str,
    out: str | Path = "workflow.yaml",
    *,
    template: str | None = None,
    force: bool = False,
    model: str = "strong",
    settings: Settings | None = None,
    on_request: Callable[[int], None] | None = None,
    on_round: Callable[[int, list[Problem]], None] | None = None,
) -> Composed:
    """Ask the model for a workflow for `prompt`, check it with the loader, and write it to `out`.

    Args:
        prompt: The sentence describing the video.
        out: The YAML file to write; never replaced unless `force`.
        template: A template the workflow must use (name or path); else the model picks one.
        model: "strong", "weak" or an OpenRouter model id.
        on_request: Called before each request with its round number (from 1).
        on_round: Called after each answer with its round number and its problems (none: valid).

    Raises:
        SpecError: an empty prompt or an unknown template (exit 2, before any request).
        PathError: `out` exists (without `force`) or cannot be written (exit 2, before any request).
        MissingKeysError: OPENROUTER_API_KEY is not set (exit 2, before any request).
        ComposeError: no answer validated in `MAX_ROUNDS` rounds; lists the last round's problems (exit 1).
        ProviderError: OpenRouter refused or failed (its subclasses say why).
    """
    from ..engine.store import JobStore
    from ..nodes.script import load_prompt
    from ..providers.openrouter import OpenRouterClient
    from ..providers.openrouter_models import resolve_model
    from .starters import make_folder, template_for

    settings = settings or Settings.from_env()
    prompt = " ".join((prompt or "").split())
    if not prompt:
        raise SpecError([Problem("the sentence describing the video is empty", field="PROMPT")])
    path = Path(out)
    _check_target(path, force)
    if template:
        template = template_for(template, path.parent)
    if not settings.keys.get("openrouter"):
        raise _no_key(settings)

    make_folder(path.parent, "out=")  # paths in the answer are relative to it
    model_id = resolve_model(model, settings)
    convo = compose_messages(prompt, template)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "workflow", "strict": True, "schema": answer_schema()},
    }
    retry_text = load_prompt("compose")["retry"]
    store = JobStore(settings.db_path)
    spent: dict[str, Any] = {"tokens": 0, "cost": None}

    def record(u: Any) -> None:
        spent["tokens"] += u.total_tokens
        if u.cost is not None:
            spent["cost"] = (spent["cost"] or 0.0) + u.cost
        store.record_usage(
            provider="openrouter", model=u.model, units="tokens", quantity=u.total_tokens, cost=u.cost
        )

    client = OpenRouterClient(settings)
    problems: list[Problem]
    wf, problems, rounds, content = None, [], 0, ""
    try:
        for rounds in range(1, MAX_ROUNDS + 1):
            if on_request:
                on_request(rounds)
            result = await client.chat(
                convo,
                model_id,
                response_format=response_format,
                max_tokens=_MAX_TOKENS,
                temperature=_TEMPERATURE,
                on_usage=record,
            )
            content = result.content
            wf, problems = check_answer(
                content, file=str(path), template=template, cut_off=result.finish_reason == "length"
            )
            if on_round:
                on_round(rounds, problems)
            if wf is not None:
                break
            listed = "\n".join(f"- {p}" for p in problems)
            convo = [
                *convo,
                {"role": "assistant", "content": content},
                {"role": "user", "content": retry_text.format(problems=listed).strip()},
            ]
    finally:
        await client.aclose()
        store.close()
    if wf is None:
        raise ComposeError(
            f"the model's workflow still had {len(problems)} problem(s) after {rounds} rounds; "
            "nothing was written. The last round's:",
            problems,
        )

    description = (_drop_nulls(_parse(content)) or {}).get("description")
    description = description.strip() if isinstance(description, str) and description.strip() else None
    text = workflow_yaml(wf, prompt=prompt, model=model_id, description=description)
    from ..engine.spec import loads

    written = loads(text, file=str(path))  # what is written must load as it stands, comments and all
    _check_target(path, force)  # it may have appeared while the model was thinking
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise PathError(f"cannot write {path}: {e.strerror or e}") from None
    return Composed(
        path=path,
        workflow=written,
        text=text,
        rounds=rounds,
        model=model_id,
        tokens=spent["tokens"],
        cost=spent["cost"],
        description=description,
    )
