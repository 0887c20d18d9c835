"""The typer app, the shared console, and one error handler for every command."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ..errors import FentaError, SpecError

#: The longest wait an option takes (`--wait`): a day. Longer is a typo, and `inf` would never end.
DAY = 24 * 3600
#: The most jobs one process runs at once (`worker --concurrency`, `scheduler --workers`).
MAX_WORKERS = 64

# ---------------------------------------------------------------- help layout

_BRACED = re.compile(r"^\{(.+)\}(\.\.\.)?$")


def _unbraced(pieces: list[str]) -> list[str]:
    # typer writes a required argument as `{file}`; the metavar _tidy set is already in capitals
    return [_BRACED.sub(r"\1\2", piece) for piece in pieces]


def _no_type(opt: Any) -> Any:
    if opt is not None and opt.metavar is None:
        opt.metavar = ""  # --help is a flag: no `<bool>`
    return opt


class _Command(TyperCommand):
    """`--help` as people read it: flags show no `<bool>`, the usage line says `fenta run [OPTIONS] FILE`."""

    def get_help_option(self, ctx: Any) -> Any:
        return _no_type(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _unbraced(super().collect_usage_pieces(ctx))


class _Group(TyperGroup):
    """The root group (same help layout); on creation it gives every command below it that layout too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)

    def get_help_option(self, ctx: Any) -> Any:
        return _no_type(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _unbraced(super().collect_usage_pieces(ctx))


def _is_choice(param: Any) -> bool:
    """Whether an option takes one of fixed values (its help lists them: `<espeak|piper|edge>`)."""
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:
        return bool(getattr(desc, "is_choice", False))
    return hasattr(getattr(param, "type", None), "choices")


_KEEP_LINES = re.compile(r"^\s|^[-*•] |^\d+\. ")


def _unwrapped(text: str) -> str:
    """Help text with each prose paragraph on one line, so it wraps at the terminal's width.

    typer's rich help keeps a docstring's line breaks after its first paragraph, which broke
    sentences in the middle on a wide terminal ("never replace / another job's files").
    Paragraphs with indented, bulleted or numbered lines (examples, lists) keep their lines.
    """
    paragraphs = re.split(r"\n\s*\n", text.strip())
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        if len(lines) > 1 and not any(_KEEP_LINES.match(line) for line in lines[1:]):
            para = " ".join(line.strip() for line in lines)
        out.append(para)
    return "\n\n".join(out)


def _tidy(cmd: Any) -> None:
    """Flags get an empty metavar (no `<bool>`), arguments their name in capitals (FILE, JOB_ID),
    and help paragraphs wrap at the terminal's width."""
    if getattr(cmd, "help", None):
        cmd.help = _unwrapped(cmd.help)
    for param in cmd.params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperOption) and param.metavar is None and not _is_choice(param):
            # `--max-cost MAX_COST`, not typer's `<float>` or `<list[str]>`
            param.metavar = max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
        elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    if type(cmd) is TyperCommand:  # sub-apps (jobs, templates) build plain typer classes
        cmd.__class__ = _Command
    elif type(cmd) is TyperGroup:
        cmd.__class__ = _Group
    for sub in (getattr(cmd, "commands", None) or {}).values():
        _tidy(sub)


app = typer.Typer(
    name="fenta",
    cls=_Group,
    help="Turn a workflow graph (YAML or JSON) into a finished short-form video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

# ---------------------------------------------------------------- consoles

# Off a terminal (CI logs, pipes, files) nothing is wrapped or cut at 80 columns: ids and paths
# must stay whole and copyable. (Tables also keep id/path columns whole on a terminal: _tables.py.)
PIPE_WIDTH = 1000


def _console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, soft_wrap=True)
    if not c.is_terminal:
        c.width = PIPE_WIDTH
    return c


console = _console()
err_console = _console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"fenta {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
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
            except KeyboardInterrupt as e:
                job_id = getattr(e, "job_id", None)
                if as_json:
                    emit_json(
                        {"status": "interrupted", "job_id": job_id, "error": "interrupted", "exit_code": 130}
                    )
                elif job_id:
                    err_console.print(
                        f"[yellow]interrupted[/]: continue the job with `fenta resume {job_id}`",
                        highlight=False,
                    )
                else:
                    err_console.print("[yellow]interrupted[/]", highlight=False)
                raise typer.Exit(130) from None
            except typer.BadParameter as e:
                if not as_json:
                    raise  # typer prints usage errors itself (exit 2)
                emit_json({"status": "error", "error": e.format_message(), "exit_code": 2})
                raise typer.Exit(2) from None
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except Exception as e:  # last line of defence
                from ..config import Settings

                if Settings.from_env().debug:  # FENTA_DEBUG
                    raise
                what = f"{type(e).__name__}: {e}"
                if as_json:
                    emit_json({"status": "error", "error": f"internal error: {what}", "exit_code": 1})
                else:
                    err_console.print(
                        f"[bold red]internal error:[/] {escape(what)} (set FENTA_DEBUG=1 for a traceback)",
                        highlight=False,
                        markup=True,
                    )
                raise typer.Exit(1) from None

        return wrapper

    return deco
