"""Imports point down the layers only (docs/architecture.md).

    cli -> ops -> engine -> nodes -> render | tts | providers -> media | pricing | template
        -> errors | retry | config | types

Every module's imports are read with `ast` (function-level imports included: they run too; imports
under `if TYPE_CHECKING:` are left out: they never run). A module may import its own package and
anything in a lower layer; never a higher layer, never a sibling of its layer that the rules below
keep apart (render and tts), never what the engine must reach through the nodes (render, tts,
providers), and never another package's private (underscore) modules.

Inside the engine the modules have an order of their own (`ENGINE_ORDER`, the job core read top to
bottom in one direction): a module imports only modules below it, so the engine has no import cycle,
and an import inside a function is a deliberate lazy load that says why in a comment.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fenta"

#: Top-level part of fenta -> layer (0 = top). Parts in one layer may import each other unless
#: SEPARATE says otherwise.
LAYERS: dict[str, int] = {
    "__init__": 0,  # the SDK facade: its exports load lazily from every layer
    "__main__": 0,
    "jobs": 0,  # the SDK's jobs module (fenta.jobs): list, get, events, retry, cancel, watch
    "cli": 0,
    "serve": 0,  # fenta serve: the HTTP API and MCP over ops, engine and the SDK (never the CLI)
    "ops": 1,
    "engine": 2,
    "nodes": 3,
    "render": 4,
    "tts": 4,
    "providers": 4,
    "media": 5,  # locating, checking, running, probing FFmpeg: shared by render and tts
    "pricing": 5,
    "template": 5,  # montage templates: read by the engine (validation) and the nodes
    "library": 5,  # the asset library: files, probes and tags in fenta.db; used by nodes and the CLI
    "documents": 6,  # strict YAML/JSON reading: workflows (engine) and template files (template)
    "errors": 6,
    "retry": 6,  # the one retry policy: providers, job retries (engine) and webhook delivery (ops) use it
    "bounds": 6,  # numbers people give, checked (64-bit integers, finite floats) before they are stored
    "database": 6,  # opening fenta.db with the shared settings: the job store (engine) and the asset library
    "hashing": 6,  # a file's SHA-256: the node cache, the asset library, paid inputs
    "config": 6,
    "policy": 6,  # the trust policy: what an untrusted workflow may reach (files, addresses)
    "netguard": 6,  # requests to URLs someone gave: checked hops, addresses pinned (library, webhooks)
    "types": 6,
    "written": 6,  # splitting a script into written words: render (hook timing) and tts (alignment) share it
}

#: Pairs of parts in one layer that must not import each other.
SEPARATE = {frozenset({"render", "tts"})}

#: Lower parts a part must not import although they are below it: the engine reaches what renders,
#: speaks and calls services only through the nodes (it runs them), never directly.
NOT_DIRECTLY = {"engine": {"render", "tts", "providers"}}

#: Parts of one layer that one of them must never import: the server is used by the CLI, never the reverse.
NEVER = {"serve": {"cli"}}

#: Imports that break the rules today and are being fixed by their owners: "importer -> imported" -> why.
#: Keep it empty; an entry that no longer occurs fails `test_known_exceptions_are_still_needed`.
KNOWN_EXCEPTIONS: dict[str, str] = {}


#: The engine's modules, bottom to top: each imports only those before it (a package, like `store` or
#: `executors`, is one entry: its own modules may import each other, without a cycle).
ENGINE_ORDER: list[str] = [
    # the workflow model: reading, checking and drawing a workflow
    "variables",
    "workflow",
    "graph",
    "spec",
    "schema",
    "keys",
    # small leaves: scratch folders, times, leases, the tables of fenta.db
    "scratch",
    "clock",
    "records",
    "leases",
    "tables",
    # files and the node cache (they take the store as an argument)
    "outputs",
    "cache",
    # the job core, bottom to top
    "store",
    "usage",
    "results",
    "events",
    "lifecycle",
    "execute",
    "work",
    "remote",
    "executors",
    "attempt",
    "queue",
    "worker",
    "runner",
]

#: Engine imports that break the order today and are being fixed: "importer -> imported" -> why.
ENGINE_KNOWN_EXCEPTIONS: dict[str, str] = {}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported fenta module) for every runtime import in one module."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit_stmt(sub)
                continue
            visit_stmt(child)

    def visit_stmt(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fenta" or alias.name.startswith("fenta."):
                    found.append((node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base == "fenta" or base.startswith("fenta."):
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.append((node.lineno, sub if sub in MODULES else base))
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _problem(importer: str, imported: str) -> str | None:
    src, dst = _part(importer), _part(imported)
    if src == dst:
        return None
    if src not in LAYERS or dst not in LAYERS:
        missing = src if src not in LAYERS else dst
        return f"'{missing}' has no layer: add it to LAYERS in tests/test_architecture.py"
    if LAYERS[dst] < LAYERS[src]:
        return f"upward import ({src} is below {dst})"
    if frozenset({src, dst}) in SEPARATE:
        return f"{src} and {dst} must not import each other"
    if dst in NEVER.get(src, ()):
        return f"{src} must not import {dst} ({dst} is built on {src}, not the reverse)"
    if dst in NOT_DIRECTLY.get(src, ()):
        return f"{src} must not import {dst} (only through the nodes)"
    private = [p for p in imported.split(".")[2:] if p.startswith("_") and not p.startswith("__")]
    if private:
        return f"'{imported}' is private to fenta.{dst}: use what fenta.{dst} exports"
    return None


def _violations() -> dict[str, str]:
    out = {}
    for name, path in MODULES.items():
        for line, imported in _imports(name, path):
            why = _problem(name, imported)
            if why:
                out[f"{name} -> {imported}"] = f"{path.relative_to(PACKAGE.parent)}:{line}: {why}"
    return out


def test_imports_point_down_the_layers():
    bad = {k: v for k, v in _violations().items() if k not in KNOWN_EXCEPTIONS}
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad.values()))


def test_known_exceptions_are_still_needed():
    stale = sorted(set(KNOWN_EXCEPTIONS) - set(_violations()))
    assert not stale, f"fixed: remove from KNOWN_EXCEPTIONS: {stale}"


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in MODULES}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def _engine_entry(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["fenta", "engine"] else None


def _engine_problem(importer: str, imported: str) -> str | None:
    src, dst = _engine_entry(importer), _engine_entry(imported)
    if src is None or dst is None or src == dst:
        return None
    for entry in (src, dst):
        if entry not in ENGINE_ORDER:
            return f"engine module '{entry}' has no place in ENGINE_ORDER (tests/test_architecture.py)"
    if ENGINE_ORDER.index(dst) > ENGINE_ORDER.index(src):
        return f"upward import inside the engine ({src} is below {dst} in ENGINE_ORDER)"
    return None


def _engine_imports() -> dict[str, set[str]]:
    """Engine module -> the engine modules it imports at run time."""
    return {
        name: {imported for _, imported in _imports(name, path) if _engine_entry(imported) is not None}
        for name, path in MODULES.items()
        if _engine_entry(name) is not None
    }


def _engine_violations() -> dict[str, str]:
    out = {}
    for name, path in MODULES.items():
        for line, imported in _imports(name, path):
            why = _engine_problem(name, imported)
            if why:
                out[f"{name} -> {imported}"] = f"{path.relative_to(PACKAGE.parent)}:{line}: {why}"
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every import inside a function of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [
                (n.lineno, ast.unparse(n))
                for n in ast.walk(fn)
                if isinstance(n, (ast.Import, ast.ImportFrom))
            ]
    return sorted(set(found))


def test_engine_modules_import_only_modules_below_them():
    bad = {k: v for k, v in _engine_violations().items() if k not in ENGINE_KNOWN_EXCEPTIONS}
    assert not bad, "imports against ENGINE_ORDER:\n" + "\n".join(sorted(bad.values()))


def test_engine_known_exceptions_are_still_needed():
    stale = sorted(set(ENGINE_KNOWN_EXCEPTIONS) - set(_engine_violations()))
    assert not stale, f"fixed: remove from ENGINE_KNOWN_EXCEPTIONS: {stale}"


def test_every_engine_module_has_a_place_in_the_order():
    entries = {_engine_entry(m) for m in MODULES} - {None}
    assert entries <= set(ENGINE_ORDER), (
        f"give these a place in ENGINE_ORDER: {sorted(entries - set(ENGINE_ORDER))}"
    )


def test_the_engine_has_no_import_cycle():
    graph = _engine_imports()
    graph = {
        m: {i for i in imported if f"{m} -> {i}" not in ENGINE_KNOWN_EXCEPTIONS}
        for m, imported in graph.items()
    }
    cycle = _cycle(graph)
    assert cycle is None, "an import cycle in the engine: " + " -> ".join(cycle or [])


def test_an_import_inside_an_engine_function_says_why_it_is_lazy():
    bad = []
    for name, path in MODULES.items():
        if _engine_entry(name) is None and name != "fenta.engine":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for line, text in _function_level_imports(path):
            said = lines[line - 1] + (lines[line - 2] if line > 1 else "")
            if "# lazy" not in said:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text}")
    assert not bad, "imports inside functions without a '# lazy: why' comment:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "graph,cycle",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"x": {"x"}}, ["x", "x"]),
    ],
)
def test_the_cycle_check_finds_cycles(graph, cycle):
    assert _cycle(graph) == cycle


@pytest.mark.parametrize(
    "importer,imported,ok",
    [
        ("fenta.engine.runner", "fenta.engine.attempt", True),
        ("fenta.engine.attempt", "fenta.engine.runner", False),  # upward
        ("fenta.engine.store", "fenta.engine.lifecycle", False),  # upward: the store is below the rules
        ("fenta.engine.executors.dask", "fenta.engine.executors.payload", True),  # one package
        ("fenta.engine.executors.local", "fenta.engine.attempt", False),
        ("fenta.engine.queue", "fenta.config", True),  # not an engine module: the layer rules apply
    ],
)
def test_the_engine_order(importer, imported, ok):
    assert (_engine_problem(importer, imported) is None) == ok


@pytest.mark.parametrize(
    "importer,imported,ok",
    [
        ("fenta.engine.spec", "fenta.render.templates", False),  # only through the nodes
        ("fenta.engine.spec", "fenta.template", True),
        ("fenta.nodes.stock", "fenta.engine.usage", False),  # upward
        ("fenta.nodes.script", "fenta.engine.usage", False),  # upward
        ("fenta.nodes.script", "fenta.providers._http", False),  # private
        ("fenta.nodes.script", "fenta.providers", True),
        ("fenta.nodes.script", "fenta.providers.openrouter", True),
        ("fenta.render.timeline", "fenta.tts.words", False),  # peers kept apart
        ("fenta.tts.audio", "fenta.media.ffmpeg", True),
        ("fenta.providers.kie", "fenta.pricing", True),
        ("fenta.engine.runner", "fenta.engine.store", True),  # own package
        ("fenta.cli._app", "fenta.cli._tables", True),  # own package's private module
        ("fenta.errors", "fenta.config", True),  # same bottom layer
        ("fenta.media.ffmpeg", "fenta.render.compose", False),
        ("fenta.serve.app", "fenta.cli._app", False),  # the CLI is built on the server, not the reverse
        ("fenta.cli.serve_cmds", "fenta.serve.server", True),
        ("fenta.serve.service", "fenta.ops.quotas", True),
    ],
)
def test_the_rules(importer, imported, ok):
    assert (_problem(importer, imported) is None) == ok


def test_the_scan_reads_relative_function_level_and_type_checking_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..render import compose\n"
        "from . import base\n"
        "import fenta.engine.store\n"
        "if TYPE_CHECKING:\n"
        "    from ..cli import _app\n"
        "def f():\n"
        "    from ..engine.usage import record\n"
    )
    got = _imports("fenta.nodes.m", src)
    assert got == [
        (2, "fenta.render.compose"),
        (3, "fenta.nodes.base"),
        (4, "fenta.engine.store"),
        (8, "fenta.engine.usage"),
    ]


def test_nodes_record_usage_through_their_context(tmp_path):
    """What replaced the nodes' imports of fenta.engine.usage: `ctx.usage`, given by the runner."""
    from fenta.config import Settings
    from fenta.engine.store import JobStore
    from fenta.engine.usage import UsageLog, provider_state
    from fenta.nodes.base import NodeContext

    settings = Settings(home=tmp_path)
    alone = NodeContext(node_id="n", job_id="j", settings=settings, template={}, out_dir=tmp_path)
    alone.usage.record("pexels", units="requests", quantity=1)  # outside a job: nothing kept, no error
    alone.usage.tokens()(object())
    alone.usage.provider_state("pexels", {"remaining": 1})
    alone.cleanup()

    store = JobStore(settings.db_path)
    usage = UsageLog(store, "job-1", "node-1")
    usage.record("kie", model="m", units="credits", quantity=5, cost=0.1)

    class _Tokens:
        model, total_tokens, cost = "openai/gpt-4o-mini", 42, 0.002

    usage.tokens()(_Tokens())
    usage.provider_state("pexels", {"remaining": 7, "reset": None})
    rows = [
        dict(r)
        for r in store.db.query(
            "SELECT provider, model, units, quantity, cost, job_id, node_id FROM usage_records ORDER BY id"
        )
    ]
    assert rows == [
        {
            "provider": "kie",
            "model": "m",
            "units": "credits",
            "quantity": 5,
            "cost": 0.1,
            "job_id": "job-1",
            "node_id": "node-1",
        },
        {
            "provider": "openrouter",
            "model": "openai/gpt-4o-mini",
            "units": "tokens",
            "quantity": 42,
            "cost": 0.002,
            "job_id": "job-1",
            "node_id": "node-1",
        },
    ]
    assert provider_state(store, "pexels")["pexels"]["remaining"] == "7"
    store.close()


# ------------------------------------------------------------------------------ SQL lives in the store

#: Where SQL about fenta.db may be written, and why; everything else asks the job store (`JobStore`
#: methods, or the `Tx` of `store.write()`), never `store.db`, a raw connection or SQL text.
OWN_SQL: dict[str, str] = {
    "engine/store/": "the job store: every statement about jobs, schedules, webhooks, batches, sync",
    "engine/tables.py": "the job core's schema, created when a store opens",
    "database.py": "opening fenta.db: pragmas, WAL, the additive schema helper",
    "library/_db.py": "the asset library's own tables, opened without the engine",
    "library/assets.py": "the asset library's own statements",
    "serve/store.py": "fenta serve's own tables only (tokens, idempotency keys, uploads): see below",
}

_SQL = re.compile(
    r"\bstore\.db\b|\.db\.(conn|query|execute)\b|\.(execute|executemany|executescript)\((?!\))|\.query\("
    r"|\bsqlite3\.connect\("
    r"|\b(SELECT\b.*\bFROM|INSERT( OR \w+)? INTO|UPDATE \w+ SET|DELETE FROM"
    r"|(CREATE|ALTER) (UNIQUE )?(TABLE|INDEX))\b"
)


def _sql_outside_the_store(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(rel == own or (own.endswith("/") and rel.startswith(own)) for own in OWN_SQL):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _SQL.search(line):
                found.append(f"fenta/{rel}:{n}: {line.strip()}")
    return found


def test_only_the_store_speaks_sql_about_fenta_db():
    found = _sql_outside_the_store(PACKAGE)
    assert not found, "SQL outside the store (add a JobStore method instead):\n" + "\n".join(found)


def test_fenta_serves_own_statements_name_only_its_own_tables():
    text = (PACKAGE / "serve" / "store.py").read_text(encoding="utf-8")
    tables = set(re.findall(r"\b(?:FROM|INTO|UPDATE|TABLE IF NOT EXISTS)\s+(\w+)", text))
    assert tables == {"api_tokens", "api_idempotency", "api_uploads"}


@pytest.mark.parametrize(
    "line",
    [
        "rows = store.db.query('x')",
        "store.db.conn.execute(q, args)",
        "conn.execute(q)",
        "tx.executemany(q, rows)",
        "    sql = 'SELECT id FROM jobs'",
        "'INSERT OR IGNORE INTO x (a) VALUES (?)'",
        "f'UPDATE schedules SET a = 1'",
        '"DELETE FROM sync_jobs WHERE job_id = ?"',
        "'CREATE UNIQUE INDEX IF NOT EXISTS i ON t(c)'",
        "conn = sqlite3.connect(path)",
    ],
)
def test_the_sql_scan_finds_sql(tmp_path, line):
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "m.py").write_text(line + "\n")
    assert len(_sql_outside_the_store(tmp_path)) == 1


def test_the_sql_scan_leaves_running_an_execution_and_words_alone(tmp_path):
    (tmp_path / "m.py").write_text("ok = await ex.execute()\n# select a row from the list, then update it\n")
    assert _sql_outside_the_store(tmp_path) == []
