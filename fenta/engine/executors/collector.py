"""The results of every Dask future the `DaskExecutor` submitted, collected by one thread: a single
`distributed.as_completed` read in a thread of its own, each result handed to the attempt waiting for
it on its event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .cluster import load_distributed

__all__ = ["Answer", "Collector"]

#: What a task's future came to: ("ok", its answer) or ("error", what it raised).
Answer = tuple[str, Any]


class Collector:
    """One `as_completed` over every submitted future, read by a thread; each result goes to its waiter."""

    def __init__(self) -> None:
        distributed = load_distributed()
        self.ac = distributed.as_completed([], with_results=False)
        self.waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Answer]]] = {}
        self.more = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="fenta-dask-results", daemon=True)
        self.thread.start()

    def watch(self, future: Any) -> asyncio.Future[Answer]:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiters[future.key] = (loop, waiter)
        self.ac.add(future)
        self.more.set()
        return waiter

    def _run(self) -> None:
        try:
            self._collect()
        except Exception as e:  # the client closed under it, or the scheduler went away: no waiter hangs
            for key in list(self.waiters):
                loop, waiter = self.waiters.pop(key)
                try:
                    loop.call_soon_threadsafe(_settle, waiter, ("error", e))
                except RuntimeError:
                    pass

    def _collect(self) -> None:
        while not self.closed:
            for future in self.ac:
                try:
                    outcome: Answer = ("ok", future.result())
                except BaseException as e:  # a lost worker, a cancelled future: the waiter decides
                    outcome = ("error", e)
                found = self.waiters.pop(future.key, None)
                if found is not None:
                    loop, waiter = found
                    try:
                        loop.call_soon_threadsafe(_settle, waiter, outcome)
                    except RuntimeError:  # that loop has closed
                        pass
            self.more.wait(0.2)
            self.more.clear()

    def close(self) -> None:
        self.closed = True
        self.more.set()


def _settle(waiter: asyncio.Future[Answer], outcome: Answer) -> None:
    if not waiter.done():
        waiter.set_result(outcome)
