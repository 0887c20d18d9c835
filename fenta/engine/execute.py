"""Executing a job's nodes: each as soon as its inputs are ready, with cache lookups and checkpoints.

Every finished node is written to SQLite (a checkpoint) together with its `node.finished` event
before anything downstream starts, so a killed attempt is resumed from where it stopped, and to
the cache index, so an unchanged workflow re-runs nothing.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ValidationError

from ..config import Settings
from ..errors import FentaError, NodeError, PathError
from ..nodes.base import NodeContext, local_path
from ..retry import is_retryable
from .cache import cache_key, files_exist
from .clock import now_iso
from .events import Sink
from .graph import build_graph
from .outputs import Published, publish
from .records import Event
from .store import JobStore, Tx
from .usage import UsageLog
from .workflow import NodeSpec, Workflow

__all__ = ["Execution", "job_log", "append_log"]

#: How many nodes of each resource class run at once.
_LIMITS = {"cpu": max(1, (os.cpu_count() or 2)), "render": max(1, (os.cpu_count() or 2) // 2), "io": 8}

#: Port types whose values are lists: several sources' values are joined into one.
_LIST_PORTS = ("clips", "words", "scenes", "artifacts")


def _never() -> bool:
    return False


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


class _Stopped(Exception):
    """Control flow: the worker is stopping, so no further node starts (never leaves this module)."""


def job_log(settings: Settings, job_id: str) -> Path:
    """The job's log file (FFmpeg's last lines, tracebacks of internal errors)."""
    return settings.home / "logs" / f"{job_id}.log"


def append_log(settings: Settings, job_id: str, text: str) -> None:
    """Add `text` (keys redacted) to the job's log."""
    path = job_log(settings, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(settings.redact(text).rstrip() + "\n")


class Execution:
    """One attempt at a job's nodes: cache lookups, checkpoints with their events, publishing."""

    def __init__(
        self,
        workflow: Workflow,
        *,
        job_id: str,
        out_dir: Path,
        settings: Settings,
        store: JobStore,
        refresh: set[str],
        bus: Sink,
        checkpoints: dict[str, dict[str, Any]],
        options: dict[str, Any] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.wf = workflow
        self.job_id = job_id
        self.out_dir = out_dir
        self.options = options or {}
        self.settings = settings
        self.store = store
        self.refresh = refresh
        self.bus = bus
        self.checkpoints = checkpoints
        self.outputs: dict[str, dict[str, Any]] = {}
        self.status: dict[str, str] = {}
        self.sems: dict[str, asyncio.Semaphore] = {}
        self.services: dict[str, Any] = {}
        self.log_path = job_log(settings, job_id)
        self.published = Published()
        #: True once a stopping worker asks it: nodes that are running finish, no further node starts.
        self.stopping: Callable[[], bool] = stopping or _never
        self._fractions: dict[str, float] = {}
        self._last_progress = 0.0

    # ------------------------------------------------------------ events

    def notify(self, type_: str, **data: Any) -> None:
        """A live-only event (a node's progress, a message) for this process's readers."""
        self.bus.put(Event(0, type_, self.job_id, {"jobId": self.job_id, **data}, now_iso()))

    def record(self, type_: str, data: dict[str, Any], change: Callable[[Tx], None] | None = None) -> None:
        """Write `change` and its event in one transaction, then hand the event to this process's readers."""
        data = {"jobId": self.job_id, **data}
        with self.store.write() as tx:
            if change is not None:
                change(tx)
            event = tx.append_event(type_, self.job_id, data)
        self.bus.put(event)

    def progress(self, nid: str | None = None, fraction: float | None = None) -> None:
        """The job's progress (finished nodes plus the running ones' fractions); `job.progress` at most
        once a second."""
        if nid is not None and fraction is not None:
            self._fractions[nid] = fraction
            self.notify("node.progress", node=nid, fraction=fraction)
        done = sum(1 for s in self.status.values() if s in ("completed", "cached"))
        running = sum(f for n, f in self._fractions.items() if n not in self.status)
        value = round(min(1.0, (done + running) / max(1, len(self.wf.nodes))), 3)
        now = time.monotonic()
        if now - self._last_progress >= 1.0:
            self._last_progress = now
            self.record(
                "job.progress",
                {"progress": value, "node": nid},
                lambda tx: tx.set_progress(self.job_id, value),
            )
        elif fraction is None:  # a node finished: keep the row current, without an event
            self.store.set_progress(self.job_id, value)

    def log(self, text: str) -> None:
        append_log(self.settings, self.job_id, text)

    def message(self, nid: str, level: str, msg: str) -> None:
        self.log(f"[{level}] {nid}: {msg}")
        self.notify("message", node=nid, level=level, text=msg)

    def sem(self, resource: str) -> asyncio.Semaphore:
        if resource not in self.sems:
            self.sems[resource] = asyncio.Semaphore(_LIMITS.get(resource, 4))
        return self.sems[resource]

    # ------------------------------------------------------------ nodes

    def gather_inputs(self, spec: NodeSpec) -> dict[str, Any]:
        cls = spec.node_class
        ports = cls.input_ports()
        values: dict[str, Any] = {}
        for port, refs in spec.inputs.items():
            got = [self.outputs[src][src_port] for src, src_port in refs]
            if ports[port].endswith("[]") or ports[port] in _LIST_PORTS:
                merged: list[Any] = []
                for g in got:
                    merged += g if isinstance(g, list) else [g]
                values[port] = merged
            else:
                values[port] = got[0]
        return values

    async def run_node(self, nid: str) -> None:
        spec = self.wf.nodes[nid]
        cls = spec.node_class
        node = cls()
        inputs_raw = self.gather_inputs(spec)
        params = spec.parsed_params
        assert params is not None
        try:
            inputs = cls.Inputs.model_validate(inputs_raw)
        except ValidationError as e:
            err = NodeError(
                f"inputs do not fit {cls.type}: {e.errors()[0]['msg']}", node=nid, file=self.wf.file
            )
            self.fail(nid, None, err, 0.0)
            raise err from None
        for field, value in node.local_paths(params):  # before the fingerprint, which reads them
            why = self.wf.policy.file_problem(local_path(self.wf.file, value))
            if why is not None:
                refused = PathError(why, node=nid, field=field, file=self.wf.file)
                self.fail(nid, None, refused, 0.0)
                raise refused
        params_json = params.model_dump(mode="json")
        extra: dict[str, Any] = {"fingerprint": node.fingerprint(params, inputs, workflow_file=self.wf.file)}
        if cls.uses_template:
            extra["template"] = self.wf.template
        key = cache_key(cls.type, cls.version, params_json, _dump(inputs_raw), extra)

        ck = self.checkpoints.get(nid)
        cache_dir = self.settings.cache_dir
        if ck and ck["key"] == key and files_exist(ck["output"], cache_dir) and nid not in self.refresh:
            self.finish(nid, ck["output"], "cached", key, 0.0)
            return
        if cls.cacheable and nid not in self.refresh:
            hit = self.store.cache_get(key)
            if hit is not None and files_exist(hit, cache_dir):
                self.finish(nid, hit, "cached", key, 0.0)
                return

        async with self.sem(getattr(cls, "resource", "io")):
            if self.stopping():
                raise _Stopped()

            def started(tx: Tx) -> None:
                tx.node_started(self.job_id, nid, cls.type, key)
                tx.set_current_node(self.job_id, nid)

            self.record("node.started", {"node": nid, "type": cls.type}, started)
            ctx = NodeContext(
                node_id=nid,
                job_id=self.job_id,
                settings=self.settings,
                template=self.wf.template,
                out_dir=self.out_dir,
                workflow_file=self.wf.file,
                workflow_name=self.wf.name,
                on_progress=functools.partial(self.progress, nid),
                on_message=functools.partial(self.message, nid),
                services=self.services,
                store=self.store,
                usage=UsageLog(self.store, self.job_id, nid),
                policy=self.wf.policy,
                node_types={n: s.type for n, s in self.wf.nodes.items()},
            )
            t0 = time.perf_counter()
            try:
                result = await node.run(ctx, params, inputs)
            except FentaError as e:
                tail = getattr(e, "stderr_tail", "")  # an FFmpeg failure's last lines
                if tail:
                    self.log(f"[ffmpeg] {nid}:\n{tail}")
                if e.node is None:
                    e.node = nid
                if e.file is None and not isinstance(e, (NodeError,)):
                    e.file = self.wf.file
                self.fail(nid, key, e, time.perf_counter() - t0)
                raise
            except asyncio.CancelledError:
                self.fail(nid, key, None, time.perf_counter() - t0)
                raise
            except Exception as e:  # a bug or an unexpected library error: keep the traceback in the log
                self.log(traceback.format_exc())
                # Network trouble or a timeout that got past a client is worth another attempt; a bug is not.
                what = f"unexpected error: {type(e).__name__}: {e} (details in {self.log_path})"
                err = NodeError(what, node=nid, retryable=is_retryable(e))
                self.fail(nid, key, err, time.perf_counter() - t0)
                raise err from e
            finally:
                ctx.cleanup()
            seconds = time.perf_counter() - t0
        if not isinstance(result, cls.Outputs):
            err = NodeError(f"{cls.type} returned {type(result).__name__}, expected its Outputs", node=nid)
            self.fail(nid, key, err, seconds)
            raise err
        output = result.model_dump(mode="json")
        if cls.cacheable:
            self.store.cache_put(key, cls.type, output)
        self.finish(nid, output, "completed", key, seconds, node.finished_events(output, self.job_id))

    def fail(self, nid: str, key: str | None, err: FentaError | None, seconds: float) -> None:
        """Checkpoint a node that failed (err None: it was stopped) and append `node.failed`."""
        spec = self.wf.nodes[nid]
        msg = self.settings.redact(str(err)) if err is not None else "cancelled"
        if err is not None:
            self.log(f"[error] {nid}: {msg}")
        self.status[nid] = "failed"

        def checkpoint(tx: Tx) -> None:
            tx.node_finished(
                self.job_id, nid, spec.type, status="failed", cache_key=key, error=msg, seconds=seconds
            )

        self.record("node.failed", {"node": nid, "error": msg}, checkpoint)

    def finish(
        self,
        nid: str,
        output: dict[str, Any],
        status: str,
        key: str,
        seconds: float,
        events: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        """Checkpoint a finished node with its `node.finished` event (and the events its run adds,
        such as `video.published`, in the same transaction)."""
        spec = self.wf.nodes[nid]
        self.outputs[nid] = output
        added: list[Event] = []

        def checkpoint(tx: Tx) -> None:
            tx.node_finished(
                self.job_id, nid, spec.type, status=status, cache_key=key, output=output, seconds=seconds
            )
            for type_, data in events or []:
                added.append(tx.append_event(type_, self.job_id, {"jobId": self.job_id, **data}))

        self.record(
            "node.finished", {"node": nid, "status": status, "seconds": round(seconds, 3)}, checkpoint
        )
        for event in added:
            self.bus.put(event)
        self.status[nid] = status
        self.progress(nid)

    async def execute(self) -> bool:
        """Run every node (each as soon as its inputs are ready); whether every node ran: False when a
        stopping worker stopped the run (the nodes running then finished first).

        A failing node cancels the others, and its error is raised.
        """
        g = build_graph(self.wf)
        tasks: dict[str, asyncio.Task[None]] = {}

        async def after_deps(nid: str) -> None:
            deps = [tasks[p] for p in g.predecessors(nid)]
            if deps:
                await asyncio.gather(*deps)
            if self.stopping():
                raise _Stopped()
            await self.run_node(nid)

        for nid in nx.topological_sort(g):
            tasks[nid] = asyncio.create_task(after_deps(nid), name=nid)
        try:
            waiting = set(tasks.values())
            while waiting:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_EXCEPTION)
                errors = [e for t in done if not t.cancelled() and (e := t.exception()) is not None]
                real = [e for e in errors if not isinstance(e, _Stopped)]
                if real:
                    raise real[0]
            stopped = any(not t.cancelled() and isinstance(t.exception(), _Stopped) for t in tasks.values())
        except BaseException:
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        finally:
            for svc in self.services.values():
                close = getattr(svc, "aclose", None)
                if close:
                    await close()
        return not stopped

    def artifact_sets(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(node id, artifacts) for every node that left files for the user, in workflow order."""
        sets = []
        for nid in self.wf.nodes:
            lists = [value for value in self.outputs.get(nid, {}).values() if isinstance(value, list)]
            arts = [
                a
                for value in lists
                for a in value
                if isinstance(a, dict) and {"kind", "name", "path"} <= set(a)
            ]
            if arts:
                sets.append((nid, arts))
        return sets

    def publish(self) -> dict[str, str]:
        """Copy the artifacts into the output folder (see `fenta.engine.outputs.publish`)."""
        sets = self.artifact_sets()
        return publish(
            sets, self.out_dir, self.options, self.wf.name, self.store, self.job_id, self.published
        ).paths

    def video(self) -> float | None:
        """The rendered video's duration, if a node made one."""
        for output in self.outputs.values():
            for value in output.values():
                for art in value if isinstance(value, list) else ():
                    if isinstance(art, dict) and art.get("kind") == "video":
                        duration = art.get("duration")
                        return float(duration) if duration is not None else None
        return None
