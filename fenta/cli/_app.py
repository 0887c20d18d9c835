"""The typer app, the shared console, and one error handler for every command."""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any, Callable

import typer
from rich.console import Console

from ..errors import FentaError, SpecError

app = typer.Typer(
    name="fenta",
    help="Turn a workflow graph (YAML or JSON) into a finished short-form video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"fenta {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Turn a workflow graph (YAML or JSON) into a finished short-form video."""


def emit_json(data: Any) -> None:
    """Print machine-readable output on stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_error(e: FentaError) -> None:
    if isinstance(e, SpecError) and len(e.problems) > 1:
        err_console.print(f"[bold red]error:[/] {len(e.problems)} problems found:", highlight=False)
        for p in e.problems:
            err_console.print("  • " + str(p), highlight=False, markup=False)
    else:
        err_console.print("[bold red]error:[/] ", end="", highlight=False)
        err_console.print(str(e), highlight=False, markup=False)


def handle_errors(json_flag: str | None = "json") -> Callable:
    """Decorator: FentaError -> one message and its exit code; no tracebacks for users."""

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            as_json = bool(json_flag and kwargs.get(json_flag))
            try:
                return fn(*args, **kwargs)
            except FentaError as e:
                if as_json:
                    payload: dict[str, Any] = {"status": "error", "error": str(e), "exit_code": e.exit_code}
                    if isinstance(e, SpecError):
                        payload["problems"] = [p.__dict__ for p in e.problems]
                    emit_json(payload)
                else:
                    print_error(e)
                raise typer.Exit(e.exit_code) from None
            except KeyboardInterrupt:
                err_console.print("[yellow]interrupted[/]: the job can be continued with `fenta resume JOB_ID`")
                raise typer.Exit(130) from None
            except (typer.Exit, typer.Abort, typer.BadParameter, SystemExit):
                raise  # typer prints usage errors itself (exit 2)
            except Exception as e:  # pragma: no cover - last line of defence
                from ..config import Settings

                if Settings.from_env().debug:  # FENTA_DEBUG
                    raise
                err_console.print(f"[bold red]internal error:[/] {type(e).__name__}: {e} (set FENTA_DEBUG=1 for a traceback)", highlight=False, markup=True)
                raise typer.Exit(1) from None

        return wrapper

    return deco
