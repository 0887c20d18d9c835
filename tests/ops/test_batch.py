"""fenta.batch: one job per row through the queue, real FFmpeg renders of tiny offline workflows (espeak
voice, lavfi media), real SQLite; the report and its JUnit XML read back with junitparser."""

from __future__ import annotations

import json

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

import fenta
import tests.test_jobs_queue  # noqa: F401  (registers Test.Flaky: fails retryably, or with a bug, its first runs)
from fenta.errors import ManifestError
from fenta.nodes.base import Node, Params, Ports, registry
from fenta.ops.batch import default_concurrency, status

#: A 1-second square video: a spoken line over a lavfi test clip given by the row.
TINY = """
version: 1
name: clip
template: square
overrides: {canvas: {width: 96, height: 96, fps: 10}}
vars: {text: "Hello there.", clip: bg.mp4}
nodes:
  script: {type: Input.Text, params: {text: "${vars.text}"}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
  media: {type: Input.Asset, params: {paths: ["${vars.clip}"]}}
  timeline: {type: Timeline, inputs: {clips: media.clips, voice: voice.audio}}
  render: {type: Render, params: {profile: canvas, preset: ultrafast}, inputs: {timeline: timeline.timeline}}
"""

#: Three rows; the third names a file that exists but is not media, so its job fails at run time.
ROWS = "text,clip,name\nFirst clip.,bg.mp4,first\nSecond clip.,bg.mp4,\nThird clip.,notmedia.mp4,\n"


@pytest.fixture
def tiny(write, make_media, monkeypatch):
    """(workflow, manifest) of the tiny batch, queue waits scaled down."""
    for k, v in {
        "FENTA_POLL_SECONDS": "0.05",
        "FENTA_HEARTBEAT_SECONDS": "0.2",
        "FENTA_LEASE_SECONDS": "5",
        "FENTA_RETRY_BASE_SECONDS": "0.05",
    }.items():
        monkeypatch.setenv(k, v)
    make_media("bg.mp4", "testsrc2=s=96x96:d=1:r=10", "-pix_fmt", "yuv420p")
    write("notmedia.mp4", "this is not a video\n")
    return write("wf.yaml", TINY), write("rows.csv", ROWS)


CHAOS = (
    "vars: {label: a, fail_times: 1, internal: false}\nnodes:\n"
    "  c: {type: Test.Flaky, params: {label: '${vars.label}', fail_times: '${vars.fail_times}',"
    " internal: '${vars.internal}'}}\n"
)


def _junit(path) -> list:
    (suite,) = list(JUnitXml.fromfile(str(path)))
    return list(suite)


def test_every_row_runs_and_a_failing_row_does_not_stop_the_others(tiny, tmp_path):
    wf, rows = tiny
    report = fenta.batch(wf, rows, out="out", report="report.json", junit="report.xml")
    assert report["totals"] | {"cost": 0} == {
        "rows": 3,
        "passed": 2,
        "failed": 1,
        "skipped": 0,
        "pending": 0,
        "cost": 0,
        "video_seconds": report["totals"]["video_seconds"],
        "videos_per_hour": report["totals"]["videos_per_hour"],
    }
    first, second, third = report["rows"]
    assert (first["name"], first["status"], first["video"]) == (
        "first",
        "passed",
        str(tmp_path / "out" / "first.mp4"),
    )
    assert (second["name"], second["video"]) == ("row-0002", str(tmp_path / "out" / "row-0002.mp4"))
    assert 0.5 < first["duration"] < 3 and first["attempts"] == 1 and first["seconds"] > 0
    assert (third["status"], third["failed_node"], third["failed_node_type"], third["error_kind"]) == (
        "failed",
        "media",
        "Input.Asset",
        "failure",
    )
    assert "not a readable media file" in third["error"] and third["video"] is None
    assert json.loads((tmp_path / "report.json").read_text()) == report == status(report["batch_id"])
    cases = _junit(tmp_path / "report.xml")
    assert [c.name for c in cases] == ["0001 first", "0002 row-0002", "0003 row-0003"]
    assert [c.is_passed for c in cases] == [True, True, False]
    (failure,) = cases[2].result
    assert (
        isinstance(failure, Failure)
        and failure.type == "Input.Asset"
        and "not a readable media file" in failure.message
    )


def test_rows_may_be_given_as_dicts_and_run_highest_priority_first(write, fenta_home):
    wf = write("wf.yaml", CHAOS)
    rows = [{"label": "low", "fail_times": 0}, {"label": "high", "fail_times": 0, "priority": 5}]
    report = fenta.batch(wf, rows, out="out", concurrency=1)
    jobs = {r["name"]: fenta.jobs.get(r["job_id"])["job"] for r in report["rows"]}
    assert report["manifest"] == "<rows>" and report["totals"]["passed"] == 2
    assert jobs["row-0002"]["started_at"] < jobs["row-0001"]["started_at"]


def test_a_loaded_workflow_is_reloaded_from_its_file_for_each_row(write, fenta_home):
    wf = fenta.load(write("wf.yaml", CHAOS))
    report = fenta.batch(wf, [{"label": "x", "fail_times": 0}], out="out")
    assert report["workflow"] == str((fenta_home.parent / "wf.yaml").resolve())
    assert report["totals"]["passed"] == 1 and (fenta_home / "runs-x").exists()


def test_a_retryable_failure_is_retried_through_the_queue(write, fenta_home, monkeypatch):
    monkeypatch.setenv("FENTA_RETRY_BASE_SECONDS", "0.02")
    wf = write("wf.yaml", CHAOS)
    report = fenta.batch(wf, [{"label": "a", "fail_times": 1}], out="out", retries=2)
    (row,) = report["rows"]
    assert (row["status"], row["attempts"], row["error"]) == ("passed", 2, None)


def test_a_node_that_crashes_is_a_junit_error_and_fail_fast_skips_the_rest(write, fenta_home):
    wf = write("wf.yaml", CHAOS)
    rows = [
        {"label": "bug", "internal": True, "priority": 9},
        {"label": "b", "fail_times": 0},
        {"label": "c", "fail_times": 0},
    ]
    report = fenta.batch(wf, rows, out="out", concurrency=1, fail_fast=True, junit="report.xml")
    assert [r["status"] for r in report["rows"]] == ["failed", "skipped", "skipped"]
    assert (
        report["rows"][0]["error_kind"] == "error"
        and "unexpected error: RuntimeError: a bug" in report["rows"][0]["error"]
    )
    assert not (fenta_home / "runs-b").exists() and report["status"] == "finished"
    cases = _junit("report.xml")
    assert isinstance(cases[0].result[0], Error) and all(isinstance(c.result[0], Skipped) for c in cases[1:])


def test_a_bad_manifest_queues_nothing(tiny, fenta_home):
    wf, _ = tiny
    with pytest.raises(ManifestError):
        fenta.batch(wf, [{"text": "Fine."}, {"clip": "missing.mp4"}], out="out")
    assert fenta.jobs.list() == []


def test_the_default_concurrency_is_one_more_than_the_cores():
    assert [default_concurrency(n) for n in (1, 2, 8)] == [2, 3, 9]


def test_resume_queues_rows_a_killed_process_never_queued(write, fenta_home, tmp_path):
    from fenta.engine.store import JobStore
    from fenta.ops import batch_store
    from fenta.ops.batch import resume

    wf = write("wf.yaml", CHAOS)
    store = JobStore(fenta_home / "fenta.db")
    try:  # the state a process killed right after writing the batch leaves behind: rows, no jobs
        rows = [
            {"index": i, "name": f"r{i}", "priority": 0, "vars": {"label": f"q{i}", "fail_times": 0}}
            for i in (1, 2)
        ]
        batch_store.create_batch(
            store,
            batch_id="b-killed",
            workflow_file=str(wf),
            manifest="rows.csv",
            out_dir=str(tmp_path / "out"),
            options={},
            rows=rows,
        )
        store.db.conn.execute("UPDATE batches SET pid = 999999999")  # a process that is gone
    finally:
        store.close()
    report = resume("b-killed")
    assert [r["status"] for r in report["rows"]] == ["passed", "passed"] and report["status"] == "finished"


def test_a_batch_running_in_another_live_process_is_not_resumed(write, fenta_home):
    import subprocess

    from fenta.engine.leases import HOST
    from fenta.engine.store import JobStore
    from fenta.errors import BatchError
    from fenta.ops.batch import resume

    report = fenta.batch(write("wf.yaml", CHAOS), [{"label": "z", "fail_times": 0}], out="out")
    other = subprocess.Popen(["sleep", "30"])
    try:
        store = JobStore(fenta_home / "fenta.db")
        store.db.conn.execute("UPDATE batches SET status = 'running', pid = ?, host = ?", (other.pid, HOST))
        store.close()
        with pytest.raises(BatchError, match=f"is running in process {other.pid}"):
            resume(report["batch_id"])
    finally:
        other.kill()
        other.wait()


def test_a_ctrl_c_while_the_batch_settles_still_settles_it_and_writes_its_reports(
    tiny, tmp_path, monkeypatch
):
    import os
    import signal

    from fenta.ops import readers

    real = readers.after_job

    def interrupted_then_real(*args, **kw):  # the signal lands after the rows ended, before the reports
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kw)

    monkeypatch.setattr(readers, "after_job", interrupted_then_real)
    wf, rows = tiny
    try:
        report = fenta.batch(wf, rows, out="out", junit="report.xml")
    except KeyboardInterrupt:  # caught here, so a regression fails this test instead of ending the session
        pytest.fail("the Ctrl-C interrupted the batch while it was being settled")
    assert report["status"] == "finished" and report["totals"]["passed"] == 2
    assert len(_junit(tmp_path / "report.xml")) == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _Text(Ports):
    text: str


class _GateParams(Params):
    gate: str


class Gate(Node):
    """Waits until the file `gate` exists (a row held in a known node while the test looks at it)."""

    type = "Test.BatchGate"
    Params = _GateParams
    Outputs = _Text

    async def run(self, ctx, params, inputs):
        import asyncio
        from pathlib import Path

        while not Path(params.gate).exists():
            await asyncio.sleep(0.02)
        return _Text(text="open")


registry.register(Gate)


def test_status_names_the_node_a_running_row_is_at(write, fenta_home, tmp_path, monkeypatch):
    import threading
    import time

    monkeypatch.setenv("FENTA_POLL_SECONDS", "0.02")
    gate = tmp_path / "open"
    wf = write("gate.yaml", f"nodes:\n  held: {{type: Test.BatchGate, params: {{gate: '{gate}'}}}}\n")
    runner = threading.Thread(target=fenta.batch, args=(wf, [{"name": "only"}]), kwargs={"out": "out"})
    runner.start()
    try:
        deadline = time.monotonic() + 30
        row: dict = {}
        while time.monotonic() < deadline:
            try:
                row = status()["rows"][0]
            except fenta.BatchError:  # not created yet
                row = {}
            if row.get("node"):
                break
            time.sleep(0.02)
        assert (row.get("status"), row.get("node")) == ("running", "held")
    finally:
        gate.touch()
        runner.join(60)
    assert status()["rows"][0]["status"] == "passed" and status()["rows"][0]["node"] is None


#: Runs `fenta batch` in a child process that SIGKILLs itself right after the transaction that wrote
#: the first job row commits: the first SQL statement run after that COMMIT, on any connection, never runs.
KILL_AFTER_FIRST_JOB_COMMITS = """
import os, signal, sys

from fenta.cli import main
from fenta.engine import store as job_store

state = {"job_written": False, "committed": False}


def watch(sql):
    if state["committed"]:
        os.kill(os.getpid(), signal.SIGKILL)
    if sql.lstrip().upper().startswith("INSERT INTO JOBS"):
        state["job_written"] = True
    elif state["job_written"] and sql.strip().upper() == "COMMIT":
        state["committed"] = True


opened = job_store.JobStore.__init__


def open_and_watch(self, *args, **kwargs):
    opened(self, *args, **kwargs)
    self.db.conn.set_trace_callback(watch)


job_store.JobStore.__init__ = open_and_watch
sys.argv = ["fenta", *sys.argv[1:]]
main()
"""

NOTE = """
version: 1
name: note
vars: {text: hi}
nodes:
  note: {type: Input.Text, params: {text: "${vars.text}"}}
"""


def test_a_batch_killed_right_after_a_job_is_written_runs_that_row_once_on_resume(cli, write, fenta_home):
    import subprocess
    import sys

    from fenta.engine.store import JobStore

    driver = write("kill_after_first_job.py", KILL_AFTER_FIRST_JOB_COMMITS)
    wf, rows = write("note.yaml", NOTE), write("rows.csv", "text\nfirst row\nsecond row\n")
    args = [sys.executable, str(driver), "batch", str(wf), str(rows), "-o", "out", "-c", "1"]
    killed = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    batch_id = json.loads(cli("batch", "status", "--json").stdout)["batch_id"]

    r = cli("batch", "resume", batch_id)
    assert r.exit_code == 0, r.output
    store = JobStore(fenta_home / "fenta.db")
    try:
        completed = store.db.query(
            "SELECT j.vars FROM events e JOIN jobs j ON j.id = e.job_id"
            " WHERE e.type = 'job.completed' AND j.batch_id = ?",
            [batch_id],
        )
        ran = [json.loads(e["vars"])["text"] for e in completed]
    finally:
        store.close()
    assert sorted(ran) == ["first row", "second row"]  # each row once: no job without its row, no row twice
