"""Test-only node types for exercising the engine without media."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pydantic import Field

from fenta.nodes.base import Node, Params, Ports, registry


class SleepParams(Params):
    seconds: float = 0.3
    label: str = "x"
    fail_flag: str | None = Field(None, description="Fail while this file exists.")


class SleepInputs(Ports):
    after: str | None = None


class SleepOutputs(Ports):
    text: str
    started: float
    ended: float


class Sleep(Node):
    """Sleeps, then returns its label; counts its runs in FENTA_HOME/runs-<label>."""

    type = "Test.Sleep"
    Params = SleepParams
    Inputs = SleepInputs
    Outputs = SleepOutputs

    async def run(self, ctx, params, inputs):
        counter = Path(os.environ["FENTA_HOME"]) / f"runs-{params.label}"
        counter.parent.mkdir(parents=True, exist_ok=True)
        with open(counter, "a") as fh:
            fh.write("1")
        if params.fail_flag and Path(params.fail_flag).exists():
            raise ctx.error("asked to fail", field="params.fail_flag")
        t0 = time.time()
        await asyncio.sleep(params.seconds)
        return SleepOutputs(text=f"{inputs.after or ''}{params.label}", started=t0, ended=time.time())


registry.register(Sleep)


def runs(home: Path, label: str) -> int:
    p = home / f"runs-{label}"
    return len(p.read_text()) if p.exists() else 0
