"""Ctrl-C during `fenta run`: exit 130, the message names the job to resume, `--json` still prints JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO

SLOW = """
nodes:
  fast: {type: Test.Sleep, params: {seconds: 0, label: fast}}
  slow: {type: Test.Sleep, params: {seconds: 30, label: slow}, inputs: {after: fast.text}}
"""

# The CLI in a child process, with the test-only node types registered.
_MAIN = (
    f"import sys; sys.path.insert(0, {str(REPO)!r}); import tests.engine.conftest;"
    " from fenta.cli import main; sys.argv[0] = 'fenta'; main()"
)


def _interrupted_run(fenta_home, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """Start `fenta run ARGS`, press Ctrl-C once the slow node runs; (result, job id)."""
    env = {**os.environ, "FENTA_HOME": str(fenta_home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _MAIN, "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.time() + 30
        while not (fenta_home / "runs-slow").exists() and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    from fenta.engine.store import JobStore

    store = JobStore(fenta_home / "fenta.db")
    (job,) = store.list_jobs()
    store.close()
    assert job.status == "failed" and job.error == "interrupted"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), job.id


def test_ctrl_c_names_the_job_to_resume_and_exits_130(write, fenta_home, tmp_path):
    r, job_id = _interrupted_run(fenta_home, str(write("wf.yaml", SLOW)), "-o", str(tmp_path / "out"))
    assert r.returncode == 130
    assert f"fenta resume {job_id}" in r.stderr and "JOB_ID" not in r.stderr


def test_ctrl_c_with_json_prints_json_naming_the_job(write, fenta_home, tmp_path):
    r, job_id = _interrupted_run(
        fenta_home, str(write("wf.yaml", SLOW)), "-o", str(tmp_path / "out"), "--json"
    )
    assert r.returncode == 130
    assert json.loads(r.stdout) == {
        "status": "interrupted",
        "job_id": job_id,
        "error": "interrupted",
        "exit_code": 130,
    }
