"""`--untrusted` as a CI user runs a pull request's manifest: real `python -m fenta` processes. A local file
the workflow, a row or an @file variable names outside FENTA_ALLOWED_DIRS is one line and exit 2 before
anything runs; inside them it works; the batch and its jobs keep the policy for `batch resume`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fenta
from fenta.engine.records import Job
from fenta.engine.store import JobStore
from fenta.policy import Policy

MARK = "s3cr3t-ci-bytes-41d2"
WORKFLOW = (
    "vars: {p: allowed/script.txt}\nnodes:\n  script: {type: Input.Text, params: {path: '${vars.p}'}}\n"
)


def _fenta(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fenta", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def repo(tmp_path, write):
    """A checkout with its own media folder (allowed) and, next to it, a file the PR must not reach."""
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "script.txt").write_text("A script from the pull request.\n")
    (tmp_path / "secret.txt").write_text(f"{MARK}\n")
    write("wf.yaml", WORKFLOW)
    return tmp_path


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stderr
    assert MARK not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def _jobs(home: Path) -> list[Job]:
    if not (home / "fenta.db").exists():
        return []
    store = JobStore(home / "fenta.db")
    try:
        return store.list_jobs()
    finally:
        store.close()


def test_run_untrusted_refuses_a_file_outside_the_allowed_folders_in_one_line(repo, fenta_home):
    line = _one_error_line(_fenta("run", "wf.yaml", "--untrusted", "--var", "p=secret.txt"))
    assert "node 'script'" in line and "params.path" in line and "FENTA_ALLOWED_DIRS" in line
    assert _jobs(fenta_home) == []


def test_run_untrusted_refuses_an_at_file_variable_in_one_line(repo, fenta_home):
    line = _one_error_line(_fenta("run", "wf.yaml", "--untrusted", "--var", "p=@secret.txt"))
    assert "--var p" in line and "untrusted" in line


def test_validate_and_submit_untrusted_refuse_it_too(repo, fenta_home):
    assert "params.path" in _one_error_line(
        _fenta("validate", "wf.yaml", "--untrusted", "--var", "p=../secret.txt")
    )
    assert "params.path" in _one_error_line(
        _fenta("submit", "wf.yaml", "--untrusted", "--var", "p=/etc/hostname")
    )
    assert _jobs(fenta_home) == []


def test_run_untrusted_reads_a_file_inside_fenta_allowed_dirs(repo, fenta_home):
    r = _fenta("run", "wf.yaml", "--untrusted", "--json", env={"FENTA_ALLOWED_DIRS": str(repo / "allowed")})
    assert r.returncode == 0, r.stderr
    [job] = _jobs(fenta_home)
    assert job.status == "completed"
    assert not Policy.from_stored(fenta.jobs.get(job.id)["job"]["options"]["policy"]).trusted


def test_without_untrusted_the_local_user_reads_any_file(repo, fenta_home):
    r = _fenta("run", "wf.yaml", "--var", "p=secret.txt", "--json")
    assert r.returncode == 0, r.stderr
    assert "policy" not in fenta.jobs.get(json.loads(r.stdout)["job_id"])["job"]["options"]


def test_batch_untrusted_refuses_a_row_naming_a_file_in_one_line_and_queues_nothing(repo, fenta_home, write):
    write("rows.csv", "p\nallowed/script.txt\n../secret.txt\n")
    line = _one_error_line(
        _fenta(
            "batch", "wf.yaml", "rows.csv", "--untrusted", env={"FENTA_ALLOWED_DIRS": str(repo / "allowed")}
        )
    )
    assert "row 2" in line and "node 'script'" in line and "params.path" in line
    assert _jobs(fenta_home) == []


def test_batch_untrusted_keeps_the_policy_with_the_batch_and_its_jobs(repo, fenta_home, write):
    write("rows.csv", "p\nallowed/script.txt\n")
    r = _fenta(
        "batch",
        "wf.yaml",
        "rows.csv",
        "--untrusted",
        "--json",
        env={"FENTA_ALLOWED_DIRS": str(repo / "allowed")},
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    store = JobStore(fenta_home / "fenta.db")
    try:
        [options] = [json.loads(row["options"]) for row in store.db.query("SELECT options FROM batches", [])]
    finally:
        store.close()
    assert not Policy.from_stored(options["policy"]).trusted
    [row] = report["rows"]
    assert not Policy.from_stored(fenta.jobs.get(row["job_id"])["job"]["options"]["policy"]).trusted


def test_batch_resume_loads_the_rows_left_to_queue_under_the_batchs_policy(repo, fenta_home):
    from fenta.ops import batch_store

    store = JobStore(fenta_home / "fenta.db")
    try:  # what a process killed right after writing an untrusted batch leaves: rows, no jobs
        rows = [{"index": 1, "name": "r1", "priority": 0, "vars": {"p": "secret.txt"}}]
        options = {"policy": Policy(trusted=False).to_stored()}
        batch_store.create_batch(
            store,
            batch_id="b-killed",
            workflow_file=str(repo / "wf.yaml"),
            manifest="rows.csv",
            out_dir=str(repo / "out"),
            options=options,
            rows=rows,
        )
        store.db.conn.execute("UPDATE batches SET pid = 999999999")  # a process that is gone
    finally:
        store.close()
    line = _one_error_line(_fenta("batch", "resume", "b-killed"))
    assert "params.path" in line and "untrusted" in line
    assert _jobs(fenta_home) == []
