"""The local executor: a job's attempt runs in this process, beside its SQLite file (the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...config import Settings

if TYPE_CHECKING:
    from ..attempt import Bus, Control
    from ..lifecycle import Lease
    from ..runner import RunResult
    from ..store import JobStore

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Runs each attempt in this process with `fenta.engine.attempt.run_attempt`."""

    name = "local"
    slots: int | None = None

    async def run(self, store: "JobStore", lease: "Lease", *, settings: Settings, bus: "Bus", control: "Control") -> "RunResult":
        from ..attempt import run_attempt  # lazy: attempt is above the executors (a known exception)

        return await run_attempt(store, lease, settings=settings, bus=bus, control=control)

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
