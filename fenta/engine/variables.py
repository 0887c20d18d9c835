"""Workflow variables: `--var` pairs, and `${vars.NAME}` found and filled in a document's values.

Only `${vars.NAME}` may be interpolated (never the environment or keys): `check_refs` reports any
other `${...}`, `interpolate` fills the known names and reports the unknown ones, and
`used_var_names` lists the names a document uses (a variable passed in that the workflow neither
declares nor uses is refused by `fenta.engine.spec`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError
from ..policy import TRUSTED, Policy

__all__ = ["parse_var_overrides", "used_var_names", "interpolate", "check_refs"]

_VAR = re.compile(r"\$\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_ANY_REF = re.compile(r"\$\{([^}]*)\}")


def parse_var_overrides(pairs: list[str] | None, *, policy: Policy = TRUSTED) -> dict[str, str]:
    """Turn ['k=v', ...] (from --var) into a dict; raises SpecError listing every bad pair.

    A value starting with `@` names a UTF-8 text file whose contents become the
    value (`--var script=@today.txt`, relative to the current folder; trailing
    newlines dropped, as the shell's `$(cat file)` does); `@@` stands for one
    literal `@` (`--var handle=@@fenta` gives `@fenta`). Under an untrusted `policy`
    (`--untrusted`) the file must lie inside FENTA_ALLOWED_DIRS, checked before it is opened.
    Only the CLI's `--var` reads files: values in batch rows, hosted rows and `vars=` are text.
    """
    out: dict[str, str] = {}
    problems: list[Problem] = []
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(f"--var '{pair}' must look like key=value"))
            continue
        if value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@"):
            path = Path(value[1:]).expanduser()
            where: dict[str, Any] = {"file": str(path), "field": f"--var {key}"}
            if not value[1:]:
                problems.append(
                    Problem(
                        f"--var {key}=@ needs a file name after '@' (write @@ for a literal '@')",
                        field=f"--var {key}",
                    )
                )
                continue
            refused = policy.file_problem(path)
            if refused is not None:
                problems.append(Problem(refused, **where))
                continue
            try:
                value = path.read_text(encoding="utf-8-sig").rstrip("\r\n")
            except FileNotFoundError:
                problems.append(
                    Problem("file not found (write @@ for a value that starts with a literal '@')", **where)
                )
                continue
            except UnicodeDecodeError:
                problems.append(Problem("not a UTF-8 text file", **where))
                continue
            except OSError as e:
                problems.append(Problem(f"cannot read the file: {e.strerror or e}", **where))
                continue
        out[key] = value
    if problems:
        raise SpecError(problems)
    return out


def used_var_names(value: Any) -> set[str]:
    """Every NAME in a ${vars.NAME} anywhere in a document."""
    if isinstance(value, str):
        return set(_VAR.findall(value))
    if isinstance(value, dict):
        return set().union(*(used_var_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(used_var_names(v) for v in value)) if value else set()
    return set()


def interpolate(value: Any, vars: dict[str, Any], on_missing: Callable[[str], object]) -> Any:
    if isinstance(value, str):
        whole = _VAR.fullmatch(value.strip())
        if whole:
            name = whole.group(1)
            if name not in vars:
                on_missing(name)
                return value
            return vars[name]

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in vars:
                on_missing(m.group(1))
                return str(m.group(0))
            return str(vars[m.group(1)])

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v, vars, on_missing) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, vars, on_missing) for v in value]
    return value


def check_refs(value: Any, on_bad: Callable[[str], object]) -> None:
    """Only ${vars.NAME} may be interpolated: no environment, no keys."""
    if isinstance(value, str):
        for m in _ANY_REF.finditer(value):
            if not _VAR.fullmatch(m.group(0)):
                on_bad(m.group(0))
    elif isinstance(value, dict):
        for v in value.values():
            check_refs(v, on_bad)
    elif isinstance(value, list):
        for v in value:
            check_refs(v, on_bad)
