"""Tables for the CLI: ids, paths and names printed whole, and cell text printed as written.

    from ._tables import table, whole
    t = table(whole("job"), "status", whole("video"))
    t.add_row(job_id, status, path)          # plain str cells: never parsed as rich markup

A `whole(...)` column is never wrapped at spaces nor shrunk while other columns can give way; when
even that is not enough (a very narrow terminal) it folds onto the next line instead of cutting to
`20261129-2…`, so every character can still be copied. Cells that should carry styling are passed
as `rich.text.Text` (e.g. `Text.from_markup("[dim]...[/]")`).
"""

from __future__ import annotations

from typing import Any

from rich.table import Column, Table
from rich.text import Text

__all__ = ["table", "whole", "PlainTable", "WholeColumn"]


class WholeColumn(Column):
    """See `whole()`."""


def whole(header: str, **kwargs: Any) -> WholeColumn:
    """A column for an id, path, URL or name someone will copy: never cut, never wrapped at spaces."""
    return WholeColumn(header, no_wrap=True, overflow="fold", **kwargs)


class PlainTable(Table):
    """A rich Table whose `str` cells are shown literally (`fenta[piper]` stays `fenta[piper]`)."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        cells = []
        for i, r in enumerate(renderables):
            if isinstance(r, str):
                r = Text(r)
            if isinstance(r, Text) and i < len(self.columns) and isinstance(self.columns[i], WholeColumn):
                # The column's no_wrap keeps it from giving way while other columns can; the cell's own
                # no_wrap=False + fold makes it fold (not crop) when the terminal is narrower than the id.
                r = r.copy()
                r.no_wrap, r.overflow = False, "fold"
            cells.append(r)
        super().add_row(*cells, **kwargs)


def table(*columns: str | Column, **kwargs: Any) -> PlainTable:
    """A table whose plain-string cells are never read as markup and never cut with `…`.

    Use `whole()` for id/path columns; a plain header makes a column that wraps, then folds, as needed.
    """
    return PlainTable(*(Column(c, overflow="fold") if isinstance(c, str) else c for c in columns), **kwargs)
