"""Running one node in isolation (real context, real cache) for voice and subtitle tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fenta.config import Settings
from fenta.nodes.base import NodeContext
from fenta.render.templates import resolve_template


def small_template(name: str = "karaoke-bold", **subtitles: Any) -> dict:
    """A shipped template on a 360x640 canvas (font size scaled down with it)."""
    base = resolve_template(name)
    scale = 360 / base["canvas"]["width"]
    subs = {"size": max(8, int(base["subtitles"]["size"] * scale)), **subtitles}
    return resolve_template(
        name, {"canvas": {"width": 360, "height": int(base["canvas"]["height"] * scale)}, "subtitles": subs}
    )


def run_node(
    node_cls, params: dict, inputs: dict, *, template: dict | None = None, messages: list | None = None
):
    """Run a node once with a real NodeContext; returns its outputs."""
    sink = messages if messages is not None else []
    ctx = NodeContext(
        node_id="n1",
        job_id="job",
        settings=Settings.from_env(),
        template=template or small_template(),
        out_dir=Path("out"),
        workflow_file=str(Path("wf.yaml").resolve()),
        on_message=lambda level, msg: sink.append((level, msg)),
    )
    try:
        return asyncio.run(node_cls().run(ctx, node_cls.Params(**params), node_cls.Inputs(**inputs)))
    finally:
        ctx.cleanup()
