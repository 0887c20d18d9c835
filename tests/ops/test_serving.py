"""One way to serve the queue (`fenta.ops.serving`): the SDK's `fenta.jobs.Worker` does what `fenta worker`
does (quota reservations, usage, webhooks), and every command that runs queued jobs goes through it."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import fenta
from fenta.ops import quotas as q
from fenta.ops import serving
from fenta.ops import webhooks as wh

from .receiver import Receiver

NOTE = """\
version: 1
name: sdk-note
nodes:
  note:
    type: Input.Text
    params: {text: hello}
"""

PACKAGE = Path(fenta.__file__).resolve().parent


def test_the_sdks_worker_is_the_one_the_cli_runs():
    assert fenta.jobs.Worker is serving.Worker


def test_the_sdks_worker_sends_signed_webhooks_and_records_usage(store, settings, tmp_path):
    with Receiver() as rx:
        rx.secret = wh.add_endpoint(store, rx.url).secret
        job_id = fenta.submit(fenta.loads(NOTE), out=tmp_path / "out", settings=settings)
        [result] = fenta.jobs.Worker(settings, until_empty=True).run()
        assert result.status == "completed"
        got = [(m["type"], m["data"]["jobId"]) for m in rx.verified()]
    assert got == [("job.started", job_id), ("job.completed", job_id)]
    usage = store.db.execute(
        "SELECT units, quantity FROM usage_records WHERE job_id = ?", [job_id]
    ).fetchall()
    assert ("jobs", 1.0) in [tuple(r) for r in usage]


def test_the_sdks_worker_holds_jobs_to_the_quotas(store, settings, tmp_path):
    q.set_limit(store, "jobs", 1, "day")
    ids = [fenta.submit(fenta.loads(NOTE), out=tmp_path / "out", settings=settings) for _ in range(2)]
    results = fenta.jobs.Worker(settings, concurrency=2, until_empty=True).run()
    assert [r.status for r in results] == ["completed"]
    dead = [fenta.jobs.get(i)["job"] for i in ids if fenta.jobs.get(i)["job"]["status"] == "dead"]
    assert len(dead) == 1 and dead[0]["error"].startswith("quota exceeded: jobs used 1 of 1 jobs today")


def test_the_sdks_worker_runs_without_quotas_when_asked(store, settings, tmp_path):
    q.set_limit(store, "jobs", 0, "day")
    fenta.submit(fenta.loads(NOTE), out=tmp_path / "out", settings=settings)
    results = fenta.jobs.Worker(settings, until_empty=True, quotas=False, readers=False, webhook_wait=0).run()
    assert [r.status for r in results] == ["completed"]


def test_serve_returns_once_its_stop_event_is_set(settings, tmp_path):
    stop = threading.Event()
    job_id = fenta.submit(fenta.loads(NOTE), out=tmp_path / "out", settings=settings)
    results: list = []
    t = threading.Thread(target=lambda: results.extend(serving.serve(settings, stop=stop)), daemon=True)
    t.start()
    for _ in range(500):
        if fenta.jobs.get(job_id)["job"]["status"] == "completed":
            break
        t.join(0.02)
    stop.set()
    t.join(20)
    assert not t.is_alive() and [r.job_id for r in results] == [job_id]


def _names(path: Path) -> set[str]:
    """Every name a module imports from fenta (`module.name`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module.lstrip('.')}.{a.name}" for a in node.names}
    return found


def test_the_worker_with_its_readers_and_after_job_pass_is_written_once():
    """Only fenta.ops.serving builds the engine's worker and runs the readers and the after-job pass
    around it (`fenta.ops.runs` does the same around one job run here)."""
    allowed = {"ops/serving.py", "ops/runs.py", "ops/readers.py"}
    wiring = {
        "engine.worker.Worker",
        "worker.Worker",
        "readers.Background",
        "readers.after_job",
        "readers.pump",
    }
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in allowed or rel.startswith("engine/"):
            continue
        hits = sorted(n for n in _names(path) if any(n.endswith(w) for w in wiring))
        if hits:
            found[rel] = hits
    assert found == {
        "ops/scheduler.py": ["readers.pump"],  # its interval job runs the readers (--workers 0 too)
        "cli/sync_cmds.py": ["ops.readers.after_job"],  # webhooks that waited for a push: no worker
    }
