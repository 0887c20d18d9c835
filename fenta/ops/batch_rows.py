"""A batch manifest: its rows read (CSV, JSONL or a JSON array) and every one checked before anything runs.

Each row is the workflow's `vars`; two keys are the row's own settings: `name` (the output file
stem, default `row-0001`, `row-0002`, ...) and `priority` (higher runs first). A CSV's header row
names the variables; an empty cell leaves that variable at the workflow's default. Rows are
numbered from 1 (the first row after a CSV header, the first line or element of JSONL / JSON).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bounds import whole
from ..engine.outputs import name_problem
from ..engine.spec import Workflow, load
from ..engine.variables import used_var_names
from ..errors import InputError, ManifestError, Problem, RowProblem, SpecError
from ..policy import TRUSTED, Policy

__all__ = ["Row", "read_manifest", "check_rows", "ROW_KEYS", "default_name"]

#: Keys of a row that are the row's own settings, not (only) workflow variables.
ROW_KEYS = ("name", "priority")


@dataclass
class Row:
    """One checked row: its 1-based `index`, the `vars` it sets, its output `name` and `priority`,
    and the workflow loaded with those vars."""

    index: int
    vars: dict[str, Any]
    name: str
    priority: int
    workflow: Workflow | None = None


def default_name(index: int) -> str:
    """The output stem of a row without `name`: row-0001, row-0002, ..."""
    return f"row-{index:04d}"


def _fail(shown: str, message: str, *, row: int | None = None, field: str | None = None) -> ManifestError:
    return ManifestError([RowProblem(message, file=shown, row=row, field=field)], file=shown)


class Manifest(list):
    """The rows of a manifest file; `columns` is a CSV file's header (None for JSON), so a column whose
    cells are all empty (each keeps its default) is still checked against the workflow's variables."""

    columns: list[str] | None = None


def _csv_rows(text: str, shown: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table = [r for r in reader]
    except csv.Error as e:
        raise _fail(shown, f"not a readable CSV file: {e}") from None
    while table and not any(c.strip() for c in table[-1]):
        table.pop()  # trailing blank lines
    if not table:
        raise _fail(shown, "the file is empty: the first line must name the variables (a CSV header)")
    header = [h.strip() for h in table[0]]
    problems: list[Problem] = []
    for i, h in enumerate(header, 1):
        if not h:
            problems.append(RowProblem(f"column {i} of the header has no name", file=shown, row=0))
        elif header.index(h) != i - 1:
            problems.append(
                RowProblem(f"column '{h}' appears twice in the header", file=shown, row=0, field=h)
            )
    rows: list[dict[str, Any]] = []
    for n, cells in enumerate(table[1:], 1):
        if not any(c.strip() for c in cells):
            problems.append(RowProblem("the row is empty", file=shown, row=n))
            continue
        if len(cells) > len(header):
            problems.append(
                RowProblem(
                    f"{len(cells)} cells but the header names {len(header)} columns", file=shown, row=n
                )
            )
            continue
        # An empty cell (or a short row) leaves the variable at the workflow's default.
        rows.append({h: c for h, c in zip(header, cells) if h and c != ""})
    if problems:
        raise ManifestError(problems, file=shown)
    manifest = Manifest(rows)
    manifest.columns = header
    return manifest


def _json_rows(text: str, shown: str, *, lines: bool) -> list[dict[str, Any]]:
    problems: list[Problem] = []
    if lines:
        items: list[tuple[int, Any]] = []
        n = 0
        for line in text.splitlines():
            if not line.strip():
                continue
            n += 1
            try:
                items.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                problems.append(RowProblem(f"not valid JSON: {e.msg} (column {e.colno})", file=shown, row=n))
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise _fail(shown, f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
        if not isinstance(doc, list):
            raise _fail(shown, "a JSON manifest must be an array of objects, one per row")
        items = list(enumerate(doc, 1))
    rows: list[dict[str, Any]] = []
    for n, item in items:
        if not isinstance(item, dict):
            problems.append(
                RowProblem(
                    f"a row must be an object of variables, got {type(item).__name__}", file=shown, row=n
                )
            )
            continue
        rows.append({str(k): v for k, v in item.items() if v is not None})
    if problems:
        raise ManifestError(problems, file=shown)
    return rows


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a manifest, each a dict of column -> value, in file order.

    The format follows the name: `.csv`, `.jsonl` / `.ndjson`, `.json`; any other name is read as
    a JSON array when it starts with `[`, JSONL when it starts with `{`, else CSV.

    Raises:
        ManifestError: the file is missing, unreadable, empty or malformed (naming the row).
    """
    p = Path(path)
    shown = str(path)
    if not p.is_file():
        raise _fail(
            shown,
            "not a file (a folder or a device): give the rows' CSV, JSONL or JSON file"
            if p.exists()
            else "file not found",
        )
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(shown, "not a UTF-8 text file") from None
    except OSError as e:
        raise _fail(shown, f"cannot read the file: {e.strerror or e}") from None
    suffix = p.suffix.lower()
    start = text.lstrip()[:1]
    if suffix in (".jsonl", ".ndjson") or (suffix not in (".csv", ".json") and start == "{"):
        rows = _json_rows(text, shown, lines=True)
    elif suffix == ".json" or (suffix != ".csv" and start == "["):
        rows = _json_rows(text, shown, lines=False)
    else:
        rows = _csv_rows(text, shown)
    if not rows:
        raise _fail(shown, "the manifest has no rows")
    return rows


def _settings(raw: dict[str, Any], n: int, shown: str, problems: list[Problem]) -> tuple[str, int]:
    """A row's output name and priority, checked."""
    name = raw.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        name = default_name(n)
    else:
        name = str(name).strip().removesuffix(".mp4")
        problem = name_problem(name)
        if problem:
            shown_name = name if len(name) <= 60 else name[:57] + "..."
            problems.append(RowProblem(f"{shown_name!r} {problem}", file=shown, row=n, field="name"))
    priority = raw.get("priority", 0)
    if isinstance(priority, str):
        priority = priority.strip() or "0"
    try:
        priority = whole(priority, "priority")
    except InputError as e:  # inf, 1e30, 1e400: SQLite stores 64 bits; the row and column say where
        problems.append(RowProblem(e.message, file=shown, row=n, field="priority"))
        priority = 0
    return name, priority


def _fields_of(problem: Problem, row_vars: Iterable[str], document: dict[str, Any]) -> list[str]:
    """The row's variables a workflow problem comes from (the variable itself, or those its node uses)."""
    field = problem.field or ""
    if field.startswith("vars."):
        return [field.removeprefix("vars.")]
    if problem.node:
        params = ((document.get("nodes") or {}).get(problem.node) or {}).get("params") or {}
        return sorted(used_var_names(params) & set(row_vars))
    return []


def _row_problem(
    p: Problem, n: int, shown: str, row_vars: dict[str, Any], document: dict[str, Any]
) -> RowProblem:
    fields = _fields_of(p, row_vars, document)
    where = ", ".join(
        x for x in (f"node '{p.node}'" if p.node else "", p.field if p.node and p.field else "") if x
    )
    message = f"{p.message} ({where})" if where else p.message
    return RowProblem(message, file=shown, row=n, field=", ".join(fields) or None)


def _raw_document(workflow_file: Path) -> dict[str, Any]:
    """The workflow as written (nodes keyed by id), to find which variables a node's params use."""
    from ..documents import read_document

    try:
        doc, _, _ = read_document(workflow_file.read_text(encoding="utf-8"), str(workflow_file))
    except Exception:  # the loader reports a broken file itself
        return {}
    if not isinstance(doc, dict):
        return {}
    nodes = doc.get("nodes")
    if isinstance(nodes, list):  # the graph shape: [{id, type, data: {params}}]
        doc = {
            **doc,
            "nodes": {
                str(n.get("id")): {"params": (n.get("data") or {}).get("params") or n.get("params")}
                for n in nodes
                if isinstance(n, dict)
            },
        }
    return doc


def check_rows(
    workflow_file: str | Path, rows: list[dict[str, Any]], *, manifest: str, policy: Policy = TRUSTED
) -> list[Row]:
    """Load the workflow with each row's variables; every problem of every row, or the checked rows.

    A problem the workflow has without the row's variables too is reported once, as the workflow's.
    Every row is loaded under `policy` (the batch's: untrusted with `--untrusted`); a row's values
    are text, never read from files.

    Raises:
        SpecError: the workflow itself is invalid.
        ManifestError: rows are invalid: each problem names its row, field (the variable) and,
            for a value a node refused, the node and its param.
    """
    wf_path = Path(workflow_file)
    try:
        base = load(wf_path, policy=policy)
        base_problems: set[str] = set()
    except SpecError as e:
        if any(p.message == "file not found" and p.node is None for p in e.problems):
            raise
        base, base_problems = None, {str(p) for p in e.problems}
    known = (
        set(base.document.get("vars") or {}) | used_var_names(base.document.get("nodes")) if base else None
    )
    document = _raw_document(wf_path)
    problems: list[Problem] = []
    shared: list[Problem] = []
    checked: list[Row] = []
    names: dict[str, int] = {}
    for n, raw in enumerate(rows, 1):
        before = len(problems)
        name, priority = _settings(raw, n, manifest, problems)
        if name.lower() in names:
            problems.append(
                RowProblem(
                    f"'{name}' is also the name of row {names[name.lower()]}: each row needs its "
                    "own output name",
                    file=manifest,
                    row=n,
                    field="name",
                )
            )
        names.setdefault(name.lower(), n)
        # `name` and `priority` are the row's settings; they are variables too when the workflow uses them.
        row_vars = {k: v for k, v in raw.items() if k not in ROW_KEYS or (known is not None and k in known)}
        try:
            wf = load(wf_path, vars=row_vars, policy=policy)
        except SpecError as e:
            for p in e.problems:
                if str(p) in base_problems:  # the same without the row: the workflow's own
                    if str(p) not in {str(s) for s in shared}:
                        shared.append(p)
                    continue
                problems.append(_row_problem(p, n, manifest, row_vars, document))
            wf = None
        if len(problems) == before and wf is not None:
            checked.append(Row(index=n, vars=row_vars, name=name, priority=priority, workflow=wf))
    columns = getattr(rows, "columns", None) or []
    for c in columns:  # a column every row left empty was never loaded: a typo there would pass unseen
        if (
            known is not None
            and c
            and c not in known
            and c not in ROW_KEYS
            and not any(c in raw for raw in rows)
        ):
            problems.append(
                RowProblem(
                    f"the header names '{c}', which is not a variable of this workflow (its "
                    f"variables: {', '.join(sorted(known)) or 'none'})",
                    file=manifest,
                    field=c,
                )
            )
    if problems:
        raise ManifestError(shared + problems, file=manifest)
    if shared:
        raise SpecError(shared, file=str(workflow_file))
    return checked
