"""The geometry of the dashboard's charts, drawn as inline SVG by the templates (no script, no library):
a job's node timings as bars on one time axis, and usage per day."""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["WIDTH", "node_timeline", "days_of_usage", "day_bars"]

#: The width of a chart's drawing (its viewBox); the page stretches it to the space it has.
WIDTH = 1000


def node_timeline(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Each node's bar: where it started after the job (`x`) and how long it ran (`w`), in viewBox units of
    the longest node's end; nodes that did not start yet have no bar."""
    ends = [(n["offset"] or 0) + (n["seconds"] or 0) for n in nodes if n.get("offset") is not None]
    span = max(ends, default=0.0) or 1.0
    rows = []
    for n in nodes:
        row = {**n, "x": None, "w": None}
        if n.get("offset") is not None:
            row["x"] = round(n["offset"] / span * WIDTH, 2)
            row["w"] = round(max((n["seconds"] or 0) / span * WIDTH, 2.0), 2)  # a short node stays visible
        rows.append(row)
    return {"rows": rows, "span": span if ends else None}


def days_of_usage(
    rows: list[dict[str, Any]], days: int, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """Spend (USD, every provider) and render minutes (fenta's own records) for each of the last `days` UTC
    days, oldest first, days without use included."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    by_day = {(today - dt.timedelta(days=i)).isoformat(): {"cost": 0.0, "minutes": 0.0} for i in range(days)}
    for r in rows:
        day = by_day.get(r["day"])
        if day is None:
            continue
        day["cost"] += float(r["cost"] or 0)
        if r["provider"] == "fenta" and r["units"] == "render_minutes":
            day["minutes"] += float(r["quantity"] or 0)
    return [{"day": d, **v} for d, v in sorted(by_day.items())]


def day_bars(values: list[float], height: int = 100) -> dict[str, Any]:
    """One bar per value (x, width, y, height in a WIDTH x `height` viewBox) and the largest value."""
    top = max(values, default=0.0)
    slot = WIDTH / max(len(values), 1)
    bars = []
    for i, v in enumerate(values):
        h = round(v / top * height, 2) if top > 0 else 0.0
        if v > 0:
            h = max(h, 1.0)  # a small day still shows
        bars.append(
            {"x": round(i * slot + slot * 0.1, 2), "w": round(slot * 0.8, 2), "y": height - h, "h": h}
        )
    return {"bars": bars, "top": top, "height": height}
