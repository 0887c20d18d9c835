"""Every command documents itself (sqlite-utils style: an undocumented command fails the suite)."""

from __future__ import annotations

import click
import typer.main

from fenta.cli import app


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def test_every_command_and_option_has_help_text():
    root = typer.main.get_command(app)
    missing = []
    for path, cmd in _commands(root):
        if not (cmd.help or "").strip():
            missing.append(" ".join(path))
        for param in cmd.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
            if isinstance(param, click.Argument) and not (getattr(param, "help", "") or "").strip():
                missing.append(f"{' '.join(path)} <{param.name}>")
    assert missing == []


def test_every_command_is_documented_in_the_readme():
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    root = typer.main.get_command(app)
    undocumented = [" ".join(p) for p, _ in _commands(root) if f"fenta {' '.join(p)}" not in readme and f"{' '.join(p)}" not in readme]
    assert undocumented == []


def test_help_exits_zero_for_each_command(cli):
    root = typer.main.get_command(app)
    for path, _ in _commands(root):
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
