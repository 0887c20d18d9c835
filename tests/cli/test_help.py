"""Every command and parameter documents itself in --help and in the README (sqlite-utils style).

The walk goes through the command tree typer builds (`typer.main.get_command`) by duck typing, not by
`isinstance(..., click.Option)`: recent typer versions vendor their own click, and a check by the
other package's classes silently checked nothing.
"""

from __future__ import annotations

import re

import pytest
import typer.main

from fenta.cli import app
from tests.conftest import REPO


def _walk(cmd, path: tuple[str, ...] = ()):
    """(path, command) for the root and every command and subcommand below it."""
    yield path, cmd
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        yield from _walk(sub, path + (name,))


def _is_option(param) -> bool:
    return bool(getattr(param, "opts", None)) and all(o.startswith("-") for o in param.opts)


COMMANDS = list(_walk(typer.main.get_command(app)))
PARAMS = [(path, p) for path, cmd in COMMANDS for p in cmd.params]


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def help_of(cli, monkeypatch):
    """help_of(("jobs", "show")) -> the --help text, wide enough that nothing wraps."""
    monkeypatch.setenv("COLUMNS", "400")

    def get(path: tuple[str, ...]) -> str:
        r = cli(*path, "--help")
        assert r.exit_code == 0, (path, r.output)
        return r.output

    return get


def test_the_walk_finds_every_command_and_their_parameters():
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {
        "run",
        "validate",
        "jobs",
        "jobs show",
        "templates show",
        "voices",
        "credits",
        "kie-callbacks",
    } <= paths
    assert len(PARAMS) > 30
    assert all(_is_option(p) or p.param_type_name == "argument" for _, p in PARAMS)


def test_every_command_and_parameter_is_described_in_its_help(help_of):
    problems: list[str] = []
    checked = 0
    for path, cmd in COMMANDS:
        shown = _flat(help_of(path))
        where = "fenta " + " ".join(path)
        if not (cmd.help or "").strip() or _flat(cmd.help).split("\n")[0][:40] not in shown:
            problems.append(f"{where}: no description")
        for p in cmd.params:
            names = list(p.opts) if _is_option(p) else [p.metavar or p.name.upper()]
            label = f"{where} {names[0]}"
            if not all(n in shown for n in names):
                problems.append(f"{label}: not listed")
            text = _flat(getattr(p, "help", None) or "")
            if not text:
                problems.append(f"{label}: no help text")
            elif text not in shown:
                problems.append(f"{label}: help text not shown as written")
            checked += 1
    assert problems == []
    assert checked == len(PARAMS) > 0


def test_help_shows_no_type_after_flags_and_names_arguments_in_capitals(help_of):
    problems: list[str] = []
    for path, cmd in COMMANDS:
        shown = help_of(path)
        usage = next(line for line in shown.splitlines() if "Usage:" in line)
        if "<bool>" in shown:
            problems.append(f"fenta {' '.join(path)}: <bool> after a flag")
        if any(
            re.search(r"<(str|int|float|path|list\[)", line) for line in shown.splitlines() if " --" in line
        ):
            problems.append(f"fenta {' '.join(path)}: a Python type shown as a value placeholder")
        if re.search(r"\{\w+\}", usage):
            problems.append(f"fenta {' '.join(path)}: braces in {usage.strip()!r}")
        for p in cmd.params:
            if not _is_option(p) and (p.metavar or p.name.upper()) not in usage:
                problems.append(
                    f"fenta {' '.join(path)}: argument {p.name} not in capitals in {usage.strip()!r}"
                )
    assert problems == []


def _readme_gaps() -> list[str]:
    """Commands not named on a line that shows a `fenta` command; options not named anywhere."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command_lines = [line for line in readme.splitlines() if "fenta " in line]
    gaps = []
    for path, cmd in COMMANDS[1:]:
        words = " ".join(path)
        if not any(re.search(rf"(?<![\w.-]){re.escape(words)}(?![\w-])", line) for line in command_lines):
            gaps.append(f"fenta {words}")
        for p in cmd.params:
            if _is_option(p) and not any(
                re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", readme) for o in p.opts
            ):
                gaps.append(f"fenta {words} {max(p.opts, key=len)}")
    return gaps


def test_every_command_and_option_is_mentioned_in_the_readme():
    assert _readme_gaps() == []


def test_help_paragraphs_wrap_at_the_terminal_width_not_at_the_docstrings_line_breaks(help_of):
    text = help_of(("run",))
    assert "never replace another job's files: a taken name becomes NAME-2" in text


def test_help_keeps_the_lines_of_indented_examples_and_lists():
    from fenta.cli._app import _unwrapped

    doc = "Say it.\n\nOne sentence\nover two lines.\n\nExamples:\n    fenta a\n    fenta b\n\n- one\n- two"
    assert (
        _unwrapped(doc)
        == "Say it.\n\nOne sentence over two lines.\n\nExamples:\n    fenta a\n    fenta b\n\n- one\n- two"
    )
