"""usage: what provider calls cost, by day and provider (from the local store; no network)."""

from __future__ import annotations

import typer

from ..config import Settings
from ._app import app, console, emit_json, handle_errors


@app.command()
@handle_errors()
def usage(
    days: int = typer.Option(30, "--days", help="How many days back to summarise."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Summarise provider usage (calls, tokens, requests, bytes, cost) by day and provider."""
    from ..bounds import whole as whole_number
    from ..engine.store import JobStore
    from ..engine.usage import summarize

    days = whole_number(days, "--days", least=1)
    settings = Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        rows = summarize(store, days)
    finally:
        store.close()
    total = round(sum(r["cost"] or 0 for r in rows), 6)
    if json:
        emit_json({"days": days, "rows": rows, "total_cost": total})
        return
    if not rows:
        console.print(f"no provider usage in the last {days} days")
        return
    from ._tables import table, whole

    # every cell is a key or a number someone may copy: none is cut
    t = table(
        whole("day"),
        whole("provider"),
        whole("units"),
        whole("calls", justify="right"),
        whole("quantity", justify="right"),
        whole("cost", justify="right"),
    )
    for r in rows:
        t.add_row(
            r["day"],
            r["provider"],
            r["units"] or "-",
            str(r["calls"]),
            f"{r['quantity']:,.0f}",
            f"{r['cost']:.6f}",
        )
    console.print(t)
    console.print(f"total cost over {days} days: {total:.6f}", highlight=False)
