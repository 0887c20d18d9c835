"""new, init: a workflow of your own, from one sentence (an LLM) or from a starter (offline)."""

from __future__ import annotations

import re
import shlex
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from ._app import app, console, emit_json, err_console, handle_errors


class Kind(str, Enum):
    quickstart = "quickstart"
    stock = "stock"
    ai = "ai"


def _shell(word: str) -> str:
    """`word` as it can be pasted into a shell: quoted only when it has to be (spaces, quotes, $...),
    so a Cyrillic file name stays readable."""
    return word if re.fullmatch(r"[\w@%+=:,./-]+", word) else shlex.quote(word)


@contextmanager
def _said_as_options(**options: str):
    """Re-word a PathError for the command line: the SDK names its parameters (`force=True`,
    `out=`), this command's user knows them as options (`--force`, `-o`)."""
    from ..errors import PathError

    try:
        yield
    except PathError as e:
        text = e.message
        for sdk, cli in {
            "force=True": "--force",
            **{f"{name}=": option for name, option in options.items()},
        }.items():
            text = text.replace(f" {sdk}", f" {cli}")
        raise PathError(text, file=e.file, node=e.node, field=e.field) from None


def _show(wf) -> None:
    """The graph, then the estimated cost of running it (as `fenta run --dry-run` prints it)."""
    from ..engine.graph import to_text
    from ..engine.keys import describe, key_needs
    from ..engine.results import plan
    from ._preflight import cost_lines

    console.print(to_text(wf), highlight=False, markup=False)
    for line in cost_lines(plan(wf).cost):
        console.print(line, highlight=False)
    keys = key_needs(wf)
    if keys:
        console.print(describe(keys), highlight=False, markup=False)


@app.command()
@handle_errors()
def new(
    ctx: typer.Context,
    prompt: str = typer.Argument(
        ...,
        help=(
            'The video in one sentence, e.g. "a 30-second vertical video about octopus facts with stock '
            'footage and karaoke captions".'
        ),
    ),
    out: Path = typer.Option(
        Path("workflow.yaml"), "-o", "--out", help="The workflow file to write (.yaml or .yml)."
    ),
    template: str | None = typer.Option(
        None,
        "--template",
        help="Use this template (name or path; `fenta templates` lists them); default: the model picks one.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace --out if it exists (default: refuse, exit 2)."
    ),
    run: bool = typer.Option(
        False,
        "--run",
        help=(
            "Run the workflow right after writing it (as `fenta run FILE` does: keys checked, a paid "
            "run asks first unless --yes)."
        ),
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="With --run: do not ask before a run that costs money."
    ),
    model: str = typer.Option(
        "strong",
        "--model",
        help=(
            "The model that writes it: strong, weak (FENTA_MODEL_STRONG / FENTA_MODEL_WEAK) or an "
            "OpenRouter model id."
        ),
    ),
    json: bool = typer.Option(
        False,
        "--json",
        help=(
            "Print the result as JSON (with --run: the run's result; the file's path is in its summary "
            "on stderr)."
        ),
    ),
) -> None:
    """Write a workflow from one sentence with an LLM (OpenRouter), checked by fenta's own loader.

    Problems the loader finds go back to the model, which tries again (3 rounds at most); when it
    never validates, the last round's problems are listed and nothing is written (exit 1). Then
    the graph and the estimated cost of a run are printed. Needs OPENROUTER_API_KEY; `fenta init`
    works offline.
    """
    from ..ops.compose import new as compose

    def asking(n: int) -> None:
        if not json:
            err_console.print(
                "[dim]asking the model for a workflow...[/]"
                if n == 1
                else f"[dim]round {n}: sending the problems back...[/]",
                highlight=False,
            )

    def answered(n: int, problems: list) -> None:
        if problems and not json:
            err_console.print(
                f"[dim]round {n}: the answer has {len(problems)} problem(s)[/]", highlight=False
            )

    from ..errors import ComposeError

    try:
        with _said_as_options(out="-o"):
            done = compose(
                prompt, out, template=template, force=force, model=model, on_request=asking, on_round=answered
            )
    except ComposeError as e:
        if not json:
            raise
        emit_json(
            {
                "status": "error",
                "error": e.message,
                "problems": [p.__dict__ for p in e.problems],
                "exit_code": e.exit_code,
            }
        )
        raise typer.Exit(e.exit_code) from None
    spent = f", ${done.cost:.4f}" if done.cost else ""
    if json and not run:
        emit_json(done.to_dict())
        return
    show = err_console if json else console
    show.print(
        f"[green]✓[/] wrote {escape(str(done.path))}: {len(done.workflow.nodes)} nodes, template "
        f"{escape(str(done.workflow.template_name))} [dim]({done.rounds} "
        f"round{'s' if done.rounds > 1 else ''}, {done.tokens} tokens{spent})[/]",
        highlight=False,
    )
    if not json:
        if done.description:  # where the model notes what a workflow cannot hold ("posted daily")
            console.print(f"[dim]description:[/] {escape(done.description)}", highlight=False)
        _show(done.workflow)
    if run:
        # `fenta run FILE [--yes] [--json]` itself, parsed like a command line: every other option it
        # has (now or later) keeps its default.
        root = ctx.find_root()
        run_cmd = root.command.get_command(root, "run")  # type: ignore[attr-defined]  # the root is a group
        args = (["--yes"] if yes else []) + (["--json"] if json else []) + ["--", str(done.path)]
        with run_cmd.make_context("run", args, parent=root) as sub:
            run_cmd.invoke(sub)
    elif not json:
        console.print(f"[dim]next:[/] fenta run {escape(_shell(str(done.path)))}", highlight=False)


@app.command()
@handle_errors()
def init(
    name: str = typer.Argument("my-video", help="The workflow's name; the file is NAME.yaml."),
    kind: Kind = typer.Option(
        Kind.quickstart,
        "--kind",
        help=(
            "quickstart: offline, no keys (fixed narration, espeak voice, generated backgrounds); "
            "stock: LLM script + Pexels footage; ai: LLM script + KIE.ai images."
        ),
    ),
    template: str = typer.Option(
        "karaoke-bold", "--template", help="The look (`fenta templates` lists them)."
    ),
    folder: Path = typer.Option(Path("."), "--dir", help="Where to write NAME.yaml and .env.example."),
    force: bool = typer.Option(
        False, "--force", help="Replace NAME.yaml if it exists (default: refuse, exit 2)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write a commented, runnable starter workflow and a .env.example listing the keys it needs (no network).

    An existing .env.example is never replaced: only lines for keys it lacks are added.
    """
    from ..ops.starters import init as start

    with _said_as_options(name="NAME", folder="--dir"):
        done = start(name, kind=kind.value, template=template, folder=folder, force=force)
    if json:
        emit_json({"status": "ok", **done.to_dict()})
        return
    console.print(
        f"[green]✓[/] wrote {escape(str(done.workflow))} ({done.kind} starter, template {escape(template)})",
        highlight=False,
    )
    env = {"written": "wrote", "updated": "added keys to", "unchanged": "kept"}[done.env_status]
    console.print(
        f"  {env} {escape(str(done.env_example))}"
        + (f": {', '.join(done.keys)}" if done.keys else ": no keys needed"),
        highlight=False,
    )
    if done.keys:
        # fenta reads .env from the folder it runs in: the hint works from there.
        here = "" if folder.resolve() == Path.cwd().resolve() else f"cd {escape(_shell(str(folder)))} && "
        console.print(
            f"[dim]next:[/] {here}cp .env.example .env, fill in the keys, then fenta run "
            f"{escape(_shell(done.workflow.name))} --dry-run",
            highlight=False,
        )
    else:
        console.print(f"[dim]next:[/] fenta run {escape(_shell(str(done.workflow)))}", highlight=False)
