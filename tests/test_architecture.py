"""Imports point down the layers only (docs/architecture.md).

    cli -> ops -> engine -> nodes -> render | tts | providers -> media | pricing | template
        -> errors | retry | config | types

Every module's imports are read with `ast` (function-level imports included: they run too; imports
under `if TYPE_CHECKING:` are left out: they never run). A module may import its own package and
anything in a lower layer; never a higher layer, never a sibling of its layer that the rules below
keep apart (render and tts), never what the engine must reach through the nodes (render, tts,
providers), and never another package's private (underscore) modules.
"""

from __future__ import annotations

import ast
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
    "database": 6,
    "hashing": 6,  # a file's SHA-256: the node cache, the asset library, paid inputs  # opening fenta.db with the shared settings: the job store (engine) and the asset library
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
KNOWN_EXCEPTIONS: dict[str, str] = {
}


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
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


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
        return f"'{src if src not in LAYERS else dst}' has no layer: add it to LAYERS in tests/test_architecture.py"
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
    assert got == [(2, "fenta.render.compose"), (3, "fenta.nodes.base"), (4, "fenta.engine.store"), (8, "fenta.engine.usage")]


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
    rows = [dict(r) for r in store.db.query("SELECT provider, model, units, quantity, cost, job_id, node_id FROM usage_records ORDER BY id")]
    assert rows == [
        {"provider": "kie", "model": "m", "units": "credits", "quantity": 5, "cost": 0.1, "job_id": "job-1", "node_id": "node-1"},
        {"provider": "openrouter", "model": "openai/gpt-4o-mini", "units": "tokens", "quantity": 42, "cost": 0.002, "job_id": "job-1", "node_id": "node-1"},
    ]
    assert provider_state(store, "pexels")["pexels"]["remaining"] == "7"
    store.close()
