"""The public SDK is what `fenta.__all__` lists, and every exception fenta raises is part of it.

Modelled on httpx's tests/test_exported_members.py; fenta's exports load lazily, so the names are
checked through `getattr`, `from fenta import ...` and `dir(fenta)`.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import fenta
import fenta.errors

PACKAGE = Path(fenta.__file__).resolve().parent

#: Exception classes that may live outside fenta/errors.py, with the reason. Only signals that never
#: reach a caller belong here.
NOT_ERRORS = {
    "fenta/retry.py:Retry": "control flow inside RetryPolicy.run: asks for another attempt, never escapes it",
}

#: Exception classes still defined outside fenta/errors.py by work in progress, with the reason. Each
#: should move to fenta/errors.py (and fenta.__all__) and come off this list.
PENDING: dict[str, str] = {}

#: Module imports that need an optional extra; they may fail when the extra is missing.
_OPTIONAL = ("piper", "pocketsphinx", "dask", "distributed")
_OPTIONAL += ("fastapi", "starlette", "uvicorn", "mcp", "sse_starlette", "prometheus_client", "limits")


def _all_modules() -> list[str]:
    names = ["fenta"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="fenta."):
        names.append(info.name)
    return sorted(names)


def _import_everything() -> None:
    for name in _all_modules():
        if name.endswith("__main__"):
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:  # pragma: no cover - an optional extra that is not installed
            if not any(opt in str(e) for opt in _OPTIONAL):
                raise


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _subclasses(sub)
    return found


def test_all_has_no_duplicates_and_every_name_is_importable():
    assert len(fenta.__all__) == len(set(fenta.__all__)), "duplicate names in fenta.__all__"
    namespace: dict = {}
    for name in fenta.__all__:
        assert getattr(fenta, name) is not None, name
        exec(f"from fenta import {name}", namespace)  # the form users write
        assert namespace[name] is getattr(fenta, name)


def test_dir_is_exactly_the_public_names():
    assert dir(fenta) == sorted(fenta.__all__)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_thing'"):
        fenta.not_a_thing  # noqa: B018


def test_every_name_in_errors_all_is_exported_by_fenta_and_the_reverse():
    assert set(fenta.errors.__all__) <= set(fenta.__all__)
    for name in fenta.__all__:
        value = getattr(fenta, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert name in fenta.errors.__all__, (
                f"{name} is exported by fenta but not listed in fenta.errors.__all__"
            )
            assert value.__module__ == "fenta.errors"


def test_every_fenta_error_is_defined_in_errors_and_exported():
    _import_everything()
    errors = {fenta.errors.FentaError} | _subclasses(fenta.errors.FentaError)
    public = {
        cls for cls in errors if not cls.__name__.startswith("_") and cls.__module__.startswith("fenta")
    }
    public = {cls for cls in public if f"{cls.__module__}.{cls.__qualname__}" not in PENDING}
    misplaced = sorted(
        f"{cls.__module__}.{cls.__qualname__}" for cls in public if cls.__module__ != "fenta.errors"
    )
    assert not misplaced, f"define these in fenta/errors.py (import them where they are raised): {misplaced}"
    missing = sorted(
        cls.__name__
        for cls in public
        if cls.__name__ not in fenta.__all__ or cls.__name__ not in fenta.errors.__all__
    )
    assert not missing, f"add to fenta.errors.__all__ and fenta.__all__: {missing}"


def _exception_bases() -> set[str]:
    names = {
        "Exception",
        "BaseException",
        "ValueError",
        "RuntimeError",
        "OSError",
        "LookupError",
        "KeyError",
        "TypeError",
    }
    return names | {n for n in fenta.errors.__all__ if isinstance(getattr(fenta.errors, n), type)}


def test_no_module_but_errors_defines_a_public_exception_class():
    """Catches exception classes whatever they derive from (also ones not under FentaError)."""
    bases = _exception_bases()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel == "fenta/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            names = {
                b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                for b in node.bases
            }
            if names & bases or any(n.endswith(("Error", "Exception")) for n in names):
                dotted = rel[: -len(".py")].replace("/", ".") + "." + node.name
                if f"{rel}:{node.name}" not in NOT_ERRORS and dotted not in PENDING:
                    found.append(f"{rel}:{node.lineno} class {node.name}")
    assert not found, f"define exception classes in fenta/errors.py: {found}"


def test_pending_entries_are_still_pending():
    _import_everything()
    stale = []
    for dotted in PENDING:
        module, name = dotted.rsplit(".", 1)
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            stale.append(dotted)
            continue
        if cls.__module__ == "fenta.errors":
            stale.append(dotted)
    assert not stale, f"moved to fenta/errors.py: remove from PENDING: {stale}"


@pytest.mark.parametrize(
    "module,name",
    [
        ("fenta.render.templates", "TemplateError"),
        ("fenta.render.captions", "FontError"),
        ("fenta.media.ffmpeg", "FFmpegUnusable"),
        ("fenta.nodes.voice", "TextError"),
        ("fenta.providers.openrouter", "InvalidOutputError"),
        ("fenta.providers.kie", "OutcomeUnknownError"),
        ("fenta.engine.keys", "MissingKeysError"),
    ],
)
def test_moved_errors_keep_their_old_import_path(module, name):
    assert (
        getattr(importlib.import_module(module), name) is getattr(fenta.errors, name) is getattr(fenta, name)
    )
