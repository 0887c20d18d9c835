"""`fenta batch` as CI runs it: real `python -m fenta` processes, real FFmpeg renders of tiny offline
workflows, real SQLite; exit codes, the closing line, the report files, a batch killed with SIGKILL and
resumed, `batch status`, and `--cluster local:2` when Dask is installed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from junitparser import Failure, JUnitXml

import fenta
from fenta.engine.events import read_events
from fenta.engine.store import JobStore
from tests.ops.test_batch import tiny  # noqa: F401  (a fixture: the tiny workflow, its rows and media)


def _fenta(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fenta", *args], capture_output=True, text=True, timeout=240, **kw
    )


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_a_csv_batch_with_a_failing_row_exits_1_and_writes_both_reports(tiny, tmp_path):
    wf, rows = tiny
    r = _fenta("batch", str(wf), str(rows), "-o", "out", "--report", "report.json", "--junit", "report.xml")
    assert r.returncode == 1, r.stderr
    assert _last_line(r.stdout) == "2 passed, 1 failed"
    assert "✗ row 3 row-0003" in r.stderr and "not a readable media file" in r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [row["status"] for row in report["rows"]] == ["passed", "passed", "failed"]
    assert (tmp_path / "out" / "first.mp4").is_file() and (tmp_path / "out" / "row-0002.mp4").is_file()
    xml = JUnitXml.fromfile(str(tmp_path / "report.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (3, 1, 0)
    (suite,) = list(xml)
    assert isinstance(list(suite)[2].result[0], Failure)


def test_json_prints_the_report_file_on_stdout_and_the_closing_line_on_stderr(tiny, tmp_path):
    wf, rows = tiny
    r = _fenta("batch", "run", str(wf), str(rows), "-o", "out", "--report", "report.json", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout) == json.loads((tmp_path / "report.json").read_text())
    assert _last_line(r.stderr) == "2 passed, 1 failed"


def test_off_a_terminal_the_live_view_is_plain_lines(tiny):
    wf, rows = tiny
    r = _fenta("batch", "run", str(wf), str(rows), "-o", "out", "--concurrency", "1")
    lines = r.stderr.splitlines()
    assert any(line.startswith("batch b-") and "3 rows, 1 at a time" in line for line in lines)
    assert any("✓ first passed" in line and "[1/3: 1 passed, 0 failed" in line for line in lines)
    assert "\x1b[" not in r.stderr  # no cursor movement or colour in a CI log


def test_a_bad_manifest_exits_2_naming_row_and_field_and_queues_nothing(tiny, write, fenta_home):
    wf, _ = tiny
    bad = write("bad.csv", "text,clip,colour\nFine.,bg.mp4,\nAlso fine.,missing.mp4,red\n")
    r = _fenta("batch", str(wf), str(bad), "--json")
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert out["exit_code"] == 2 and any(p["message"].startswith("file not found") for p in out["problems"])
    assert {(p["row"], p["field"]) for p in out["problems"]} == {(2, "clip"), (2, "colour")}
    r = _fenta("batch", str(wf), str(bad))
    assert r.returncode == 2 and "bad.csv, row 2, field 'clip': file not found" in r.stderr
    assert fenta.jobs.list() == []


def _completed(home) -> set[str]:
    store = JobStore(home / "fenta.db")
    try:
        return {r[0] for r in store.db.conn.execute("SELECT id FROM jobs WHERE status = 'completed'")}
    except Exception:  # the tables may not exist yet
        return set()
    finally:
        store.close()


def test_a_killed_batch_resumes_without_redoing_finished_rows(tiny, write, fenta_home, tmp_path):
    wf, _ = tiny
    rows = write("rows.csv", "text\n" + "".join(f"Clip number {i} is here.\n" for i in range(4)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "batch", str(wf), str(rows), "-o", "out", "-c", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (done := _completed(fenta_home)) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert done and len(done) < 4, "the batch must be killed between its first and last row"
    videos = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.mp4")}

    status = json.loads(_fenta("batch", "status", "--json").stdout)
    assert status["status"] == "stopped" and status["totals"]["passed"] >= 1 and status["totals"]["rows"] == 4

    r = _fenta("batch", "resume", status["batch_id"][:12], "--report", "report.json")
    assert r.returncode == 0, r.stderr
    assert _last_line(r.stdout) == "4 passed, 0 failed"
    store = JobStore(fenta_home / "fenta.db")
    try:
        for job_id in done:  # finished rows were not run again
            assert [e.type for e in read_events(store, job_id=job_id, types=["job.started"])] == [
                "job.started"
            ]
    finally:
        store.close()
    assert all((tmp_path / "out" / name).stat().st_mtime_ns == t for name, t in videos.items())
    assert json.loads((tmp_path / "report.json").read_text())["status"] == "finished"


def test_ctrl_c_stops_the_batch_cleanly_and_resume_finishes_it(tiny, write, fenta_home):
    wf, _ = tiny
    rows = write("rows.csv", "text\n" + "".join(f"Clip number {i} is here.\n" for i in range(3)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "batch", str(wf), str(rows), "-o", "out", "-c", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not _completed(fenta_home) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopped: continue with `fenta batch resume b-" in err and "not run" in _last_line(out)
    batch_id = json.loads(_fenta("batch", "status", "--json").stdout)["batch_id"]
    r = _fenta("batch", "resume", batch_id)
    assert r.returncode == 0 and _last_line(r.stdout) == "3 passed, 0 failed"


def test_batch_status_shows_the_rows_of_the_newest_batch(tiny, cli, monkeypatch):
    wf, rows = tiny
    fenta.batch(wf, rows, out="out")
    monkeypatch.setenv("COLUMNS", "200")
    r = cli("batch", "status")
    assert r.exit_code == 0
    assert (
        "first" in r.output
        and "row-0003" in r.output
        and "2 passed, 1 failed, 0 skipped, 0 not finished" in r.output
    )
    assert cli("batch", "status", "b-nope").exit_code == 2


def test_batch_help_explains_the_short_form_and_lists_the_subcommands(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = " ".join(cli("batch", "--help").output.split())
    assert "`fenta batch WORKFLOW ROWS` is short for `fenta batch run WORKFLOW ROWS`" in out
    assert all(name in out for name in ("run", "status", "resume"))


def test_cluster_local_runs_the_rows_on_dask_workers(tiny, tmp_path):
    wf, rows = tiny
    r = _fenta("batch", str(wf), str(rows), "-o", "out", "--cluster", "local:2", "--report", "report.json")
    assert r.returncode == 1, r.stderr
    assert _last_line(r.stdout) == "2 passed, 1 failed"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows"][2]["failed_node"] == "media" and (tmp_path / "out" / "first.mp4").is_file()
    assert r.stderr.count("notice:") <= 1  # the workers' stderr is this one: no notice twice


def test_a_cluster_that_cannot_be_used_exits_2_before_anything_is_queued(tiny, cli):
    wf, rows = tiny
    r = cli("batch", str(wf), str(rows), "--cluster", "nonsense")
    assert r.exit_code == 2 and "--cluster nonsense" in r.output
    assert fenta.jobs.list() == [] and cli("batch", "status").exit_code == 2


def test_a_plain_worker_leaves_a_batchs_rows_to_batch_resume(tiny, cli, monkeypatch):
    wf, rows = tiny
    report = fenta.batch(wf, rows, out="out")
    dead = report["rows"][2]["job_id"]
    monkeypatch.setenv("COLUMNS", "300")
    retried = cli("jobs", "retry", dead)
    assert (
        retried.exit_code == 0
        and f"row of batch {report['batch_id']}: run it with `fenta batch resume {report['batch_id']}`"
        in retried.output
    )
    w = cli("worker", "--until-empty")
    assert w.exit_code == 0 and "worker stopped: 0 attempt(s)" in w.output
    assert f"1 row(s) of batch {report['batch_id']} wait in the queue" in w.output
    assert fenta.jobs.get(dead)["job"]["status"] == "queued"
    again = cli(
        "batch", "resume", report["batch_id"]
    )  # the batch runs its own row (it fails again: not media)
    assert again.exit_code == 1 and "2 passed, 1 failed" in again.output
    assert fenta.jobs.get(dead)["job"]["attempt"] == 2


def test_plain_lines_show_the_videos_path_as_written_not_url_encoded(tiny, cli, write):
    wf, _ = tiny
    rows = write("rows.csv", "text,name\nПривет.,привет\n")
    r = cli("batch", str(wf), str(rows), "-o", "out dir")
    assert r.exit_code == 0, r.output
    assert "✓ привет passed  " + str(wf.parent / "out dir" / "привет.mp4") in r.output


def _terminal_display():
    import io

    from rich.console import Console

    from fenta.cli._batch_progress import BatchDisplay
    from fenta.engine.events import Event

    display = BatchDisplay(Console(file=io.StringIO(), force_terminal=True, width=120))
    display.start(
        {
            "batch_id": "b-1",
            "concurrency": 2,
            "executor": "local",
            "rows": [{"index": i, "name": f"r{i}", "job_id": f"j{i}", "status": "queued"} for i in (1, 2)],
        }
    )
    return display, Event


def test_on_a_terminal_the_bar_moves_with_the_running_rows_progress_and_shows_their_node():
    display, Event = _terminal_display()
    try:
        for job in ("j1", "j2"):
            display(Event(0, "job.plan", job, {"types": {"render": "Render"}}))
            display(Event(1, "job.started", job, {}))
            display(Event(2, "node.started", job, {"node": "render"}))
        display(Event(3, "job.progress", "j1", {"progress": 0.5}))
        display(Event(4, "job.progress", "j2", {"progress": 0.25}))
        assert display.overall.tasks[0].completed == 0.75  # not stuck at 0 until a row ends
        assert [t.fields["node"] for t in display.each.tasks] == ["render [dim]Render[/]"] * 2
        display(Event(5, "job.completed", "j1", {}))
        assert display.overall.tasks[0].completed == 1.25
    finally:
        display.close()
