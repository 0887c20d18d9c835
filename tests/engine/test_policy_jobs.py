"""A job keeps the policy it was validated under: every attempt, a worker's retry, `fenta resume` (with
or without --reload), the quota estimate and the Dask payload apply it, so a file swapped after
validation (a symlink out of an allowed folder) is refused at run time and never read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import fenta
from fenta.config import Settings
from fenta.engine.store import JobStore
from fenta.engine.worker import Worker
from fenta.policy import Policy

MARK = "s3cr3t-narration-7f1e"
SCRIPT_ONLY = "nodes:\n  script: {type: Input.Text, params: {path: allowed/script.txt}}\n"


@pytest.fixture
def fast(monkeypatch):
    for k, v in {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.05",
        "FENTA_LEASE_SECONDS": "2",
    }.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def place(tmp_path):
    """An allowed folder with the script, a secret outside it, and the policy that allows the folder."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "script.txt").write_text("An allowed script.\n")
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{MARK}\n")
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    return allowed, secret, policy


def _swap_for_link(allowed: Path, secret: Path) -> None:
    """What an attacker with a foot in the allowed folder does after validation: a symlink out."""
    (allowed / "script.txt").unlink()
    (allowed / "script.txt").symlink_to(secret)


def _everything_stored(home: Path) -> str:
    """Every row of every table of fenta.db, and every log, as text."""
    store = JobStore(home / "fenta.db")
    try:
        tables = [
            r["name"] for r in store.db.query("SELECT name FROM sqlite_master WHERE type = 'table'", [])
        ]
        rows = {t: [dict(r) for r in store.db.query(f'SELECT * FROM "{t}"', [])] for t in tables}
    finally:
        store.close()
    logs = (
        [p.read_text(errors="replace") for p in (home / "logs").rglob("*") if p.is_file()]
        if (home / "logs").is_dir()
        else []
    )
    return json.dumps(rows, default=str) + "".join(logs)


def test_a_file_swapped_for_a_symlink_after_validation_is_refused_when_the_job_runs(
    write, place, fenta_home, tmp_path
):
    allowed, secret, policy = place
    wf = fenta.load(write("wf.yaml", SCRIPT_ONLY), policy=policy)
    _swap_for_link(allowed, secret)
    result = fenta.run(wf, out=str(tmp_path / "out"), webhook_wait=0)
    assert result.status == "failed" and result.exit_code == 2
    assert "node 'script'" in result.error and "params.path" in result.error and "outside" in result.error
    assert MARK not in _everything_stored(fenta_home)


def test_a_job_queued_untrusted_is_run_untrusted_by_a_worker_and_by_its_retry(
    write, place, fenta_home, tmp_path, fast
):
    allowed, secret, policy = place
    job_id = fenta.submit(fenta.load(write("wf.yaml", SCRIPT_ONLY), policy=policy), out=str(tmp_path / "out"))
    assert Policy.from_stored(fenta.jobs.get(job_id)["job"]["options"]["policy"]) == policy
    _swap_for_link(allowed, secret)
    [first] = Worker(Settings.from_env(), until_empty=True).run()
    assert first.state == "dead" and "params.path" in first.error and "outside" in first.error
    fenta.jobs.retry(job_id)
    [again] = Worker(Settings.from_env(), until_empty=True).run()
    assert again.state == "dead" and "outside" in again.error
    assert MARK not in _everything_stored(fenta_home)


def test_resume_and_resume_reload_keep_the_jobs_policy(write, place, fenta_home, tmp_path, cli):
    allowed, secret, policy = place
    job_id = fenta.submit(fenta.load(write("wf.yaml", SCRIPT_ONLY), policy=policy), out=str(tmp_path / "out"))
    _swap_for_link(allowed, secret)
    r = cli("resume", job_id)
    assert r.exit_code == 2 and "params.path" in r.output and "outside" in r.output
    r = cli("resume", job_id, "--reload")
    assert r.exit_code == 2 and "params.path" in r.output and "outside" in r.output
    assert MARK not in _everything_stored(fenta_home) and MARK not in r.output


def test_the_quota_estimate_of_a_queued_untrusted_job_reads_no_file(write, place, fenta_home, tmp_path):
    from fenta.ops.quotas import _workflow_of

    allowed, secret, policy = place
    job_id = fenta.submit(fenta.load(write("wf.yaml", SCRIPT_ONLY), policy=policy), out=str(tmp_path / "out"))
    _swap_for_link(allowed, secret)
    store = JobStore(fenta_home / "fenta.db")
    try:
        job = store.get_job(job_id).to_dict()  # the row, as the admission hook is given it
    finally:
        store.close()
    assert _workflow_of(job) is None  # refused under the job's policy, as the worker would
    assert _workflow_of({**job, "options": {}}) is not None  # the local user's job of the same shape loads


# ------------------------------------------------------------------------------------- the Dask path


def _payload(job_id: str, home: Path) -> dict:
    from fenta.engine.executors.payload import build_payload

    store = JobStore(home / "fenta.db")
    try:
        return build_payload(store.get_job(job_id), store, topic="", attempt=1)
    finally:
        store.close()


def test_an_untrusted_jobs_payload_carries_only_the_files_its_policy_allows(
    write, place, fenta_home, tmp_path
):
    allowed, secret, policy = place
    text = (
        "nodes:\n  script: {type: Input.Text, params: {path: allowed/script.txt}}\n"
        f"  note: {{type: Input.Text, params: {{text: {secret}}}}}\n"
    )
    trusted_id = fenta.submit(fenta.load(write("mine.yaml", text)), out=str(tmp_path / "out"))
    assert str(secret) in _payload(trusted_id, fenta_home)["files"]  # the local user's files all travel
    job_id = fenta.submit(fenta.load(write("wf.yaml", text), policy=policy), out=str(tmp_path / "out"))
    payload = _payload(job_id, fenta_home)
    assert list(payload["files"]) == ["allowed/script.txt"]
    assert (
        MARK.encode() not in b"".join(payload["files"].values())
        and payload["options"]["policy"] == policy.to_stored()
    )


def test_the_dask_worker_rebuilds_an_untrusted_job_allowing_only_the_files_shipped_to_it(
    write, place, fenta_home, tmp_path
):
    from fenta.engine import remote

    allowed, secret, policy = place
    job_id = fenta.submit(fenta.load(write("wf.yaml", SCRIPT_ONLY), policy=policy), out=str(tmp_path / "out"))
    payload = _payload(job_id, fenta_home)
    done = remote.run_job(payload)  # what a Dask worker runs, called here
    assert done["ok"], done.get("error")
    assert done["outputs"]["script"]["text"] == "An allowed script."
    # A path the client never shipped names one of the worker's own files: refused there too.
    payload["document"]["nodes"]["script"]["params"]["path"] = str(secret)
    refused = remote.run_job(payload)
    assert not refused["ok"] and "params.path" in refused["error"] and "untrusted" in refused["error"]
    assert MARK not in json.dumps(refused, default=str)
