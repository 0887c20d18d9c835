"""Workflows a user may start from the server without sending a document: the files in the server's
workflow folder (`FENTA_WORKFLOWS_DIR`, default `FENTA_HOME/workflows`) and the starters of `fenta init`,
with the variables each declares, as a form can ask for them (no HTTP here).

    file:NAME.yaml      a .yaml, .yml or .json file directly in the workflow folder
    starter:KIND        a `fenta init --kind KIND` starter (quickstart, stock, ai), with a template

A variable's field: its name, its type read from its default (text, number, integer, boolean, json), the
default, and the comment on its line as the description:

    vars:
      voice: en-us      # espeak voices: `fenta voices --engine espeak`

Whatever source a job comes from, the document is then loaded as untrusted input, like any sent over HTTP.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..config import Settings
from ..documents import read_document
from ..errors import FentaError, ServeError, SpecError

__all__ = ["list_sources", "read_source", "var_fields", "vars_from_form", "DEFAULT_TEMPLATE", "SUFFIXES"]

#: The template a starter uses unless the user picks another (`fenta init`'s default).
DEFAULT_TEMPLATE = "karaoke-bold"
#: Files of the workflow folder that are offered.
SUFFIXES = (".yaml", ".yml", ".json")
#: Larger files are not read (a workflow is a few kilobytes).
_MAX_BYTES = 1024 * 1024
#: Strings longer than this (or with a line break) get a text area.
_LONG = 60
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'")


def _not_found(ref: str) -> ServeError:
    return ServeError(
        f"no workflow '{ref}' (GET /v1/workflows lists them: file:NAME or starter:KIND)",
        status=404,
        title="Not Found",
    )


def _comment(line: str) -> str | None:
    """The comment at the end of a YAML line (quoted strings may hold '#')."""
    bare = _QUOTED.sub(lambda m: " " * len(m.group()), line)
    at = bare.find(" #")
    if at < 0:
        return None
    text = line[at + 2 :].strip()
    return text or None


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None or isinstance(value, str):
        return "text"
    return "json"


def var_fields(text: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The form fields of a workflow's variables: every one declared under `vars:` (with its default),
    then any used as `${vars.NAME}` but not declared (required: no default)."""
    from ..engine.variables import used_var_names

    found = document.get("vars")
    declared: dict[str, Any] = found if isinstance(found, dict) else {}
    lines = text.splitlines()
    try:
        where = read_document(text, None).lines
    except SpecError:
        where = None
    fields = []
    for name, default in declared.items():
        line = where.by_path.get(("vars", name)) if where is not None else None
        description = _comment(lines[line - 1]) if line and line <= len(lines) else None
        kind = _kind_of(default)
        fields.append(
            {
                "name": str(name),
                "type": kind,
                "default": json.dumps(default, ensure_ascii=False) if kind == "json" else default,
                "description": description,
                "required": False,
                "multiline": kind == "json"
                or (isinstance(default, str) and ("\n" in default or len(default) > _LONG)),
            }
        )
    for name in sorted(used_var_names(document.get("nodes")) - set(map(str, declared))):
        fields.append(
            {
                "name": name,
                "type": "text",
                "default": None,
                "description": "used by the workflow and not declared: it has no default",
                "required": True,
                "multiline": False,
            }
        )
    return fields


def _description(text: str, document: dict[str, Any]) -> str | None:
    if isinstance(document.get("description"), str) and document["description"].strip():
        return document["description"].strip()
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip() or None
        if line.strip():
            return None
    return None


def _read(text: str, shown: str) -> dict[str, Any]:
    try:
        tree = read_document(text, shown).tree
    except SpecError as e:
        raise ServeError(
            f"{shown} cannot be read: {e.problems[0].message}", status=422, title="Unreadable workflow"
        ) from None
    if not isinstance(tree, dict):
        raise ServeError(f"{shown} is not a workflow (a mapping)", status=422, title="Unreadable workflow")
    return tree


def _files(settings: Settings) -> list[Path]:
    folder = settings.workflow_folder
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def list_sources(settings: Settings) -> list[dict[str, Any]]:
    """The starters, then the workflow folder's files (an unreadable file is listed with its problem)."""
    from ..ops.starters import KINDS

    out: list[dict[str, Any]] = [
        {"id": f"starter:{kind}", "kind": "starter", "name": kind, "description": what, "problem": None}
        for kind, what in KINDS.items()
    ]
    for path in _files(settings):
        entry: dict[str, Any] = {
            "id": f"file:{path.name}",
            "kind": "file",
            "name": path.stem,
            "description": None,
            "problem": None,
        }
        try:
            text = _text(path)
            entry["description"] = _description(text, _read(text, path.name))
        except ServeError as e:
            entry["problem"] = e.message
        out.append(entry)
    return out


def _text(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ServeError(
                f"{path.name} is larger than {_MAX_BYTES // 1024} KiB",
                status=422,
                title="Unreadable workflow",
            )
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else (e.strerror or str(e))
        raise ServeError(
            f"{path.name} cannot be read: {reason}", status=422, title="Unreadable workflow"
        ) from None


def read_source(settings: Settings, ref: str, template: str | None = None) -> dict[str, Any]:
    """One source: its id, kind, name, description, template, the document and its variables' fields.

    Raises:
        ServeError: 404 for an unknown source, 422 for an unreadable file or an unknown template.
    """
    from ..ops.starters import KINDS, starter_text
    from ..template import list_templates

    kind, _, name = (ref or "").partition(":")
    if kind == "starter" and name in KINDS:
        chosen = template or DEFAULT_TEMPLATE
        if chosen not in list_templates():
            raise ServeError(
                f"no template '{chosen}' (choose {', '.join(list_templates())})",
                status=422,
                title="Invalid request",
                extra={"field": "template"},
            )
        try:
            text = starter_text(name, name, chosen)
        except FentaError as e:  # pragma: no cover - a shipped starter that does not read is a bug
            raise ServeError(str(e), status=500) from None
        description: str | None = KINDS[name]
    elif kind == "file" and name in {p.name for p in _files(settings)}:
        text = _text(settings.workflow_folder / name)
        description = None
    else:
        raise _not_found(ref)
    document = _read(text, name)
    return {
        "id": f"{kind}:{name}",
        "kind": kind,
        "name": Path(name).stem if kind == "file" else name,
        "description": description or _description(text, document),
        "template": document.get("template") if isinstance(document.get("template"), str) else None,
        "vars": var_fields(text, document),
        "workflow": document,
    }


def vars_from_form(fields: list[dict[str, Any]], form: Any) -> tuple[dict[str, Any], list[str]]:
    """The variables a form sent (`form.get(name)`), each as its field's type; and a sentence for each
    value that is not of its type or is missing (a checkbox that is not ticked is false)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in fields:
        name, kind = f["name"], f["type"]
        raw = form.get(f"var.{name}")
        if kind == "boolean":
            values[name] = raw is not None
            continue
        text = (raw or "").replace("\r\n", "\n")
        if not text.strip():
            if f["required"]:
                problems.append(f"{name}: needs a value")
            elif kind == "text":
                values[name] = ""
            continue
        try:
            if kind == "integer":
                values[name] = int(text.strip())
            elif kind == "number":
                values[name] = float(text.strip())
            elif kind == "json":
                values[name] = json.loads(text)
            else:
                values[name] = text
        except ValueError:
            expected = {"integer": "a whole number", "number": "a number", "json": "JSON"}[kind]
            problems.append(f"{name}: '{text.strip()[:40]}' is not {expected}")
    return values, problems
