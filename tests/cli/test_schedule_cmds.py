"""`fenta schedule run-due` as system cron runs it, in-process: the rules of `fenta scheduler` apply."""

from __future__ import annotations

import json
import time

import pytest

from fenta.config import Settings
from fenta.engine.lifecycle import reserve_job, start
from fenta.engine.store import JobStore

NOTE = "version: 1\nname: note\nnodes:\n  note: {type: Input.Text, params: {text: hi}}\n"


def _last_fired_a_minute_ago(store: JobStore, name: str) -> None:
    """Time passes without waiting: the schedule last fired a minute ago, so a fire time is due now."""
    store.db.conn.execute("UPDATE schedules SET last_fire_at = ? WHERE id = ?", (time.time() - 60, name))


@pytest.mark.parametrize("state", ["queued", "running"])
def test_run_due_does_not_queue_a_schedule_again_while_its_previous_job_is_queued_or_running(
    cli, write, state
):
    note = write("note.yaml", NOTE)
    assert cli("schedule", "add", "every-minute", str(note), "--cron", "* * * * *").exit_code == 0
    job_id = json.loads(cli("schedule", "run", "every-minute", "--json").stdout)["job_id"]
    store = JobStore(Settings.from_env().db_path)
    try:
        # a worker elsewhere (this test's process) has taken the job: claimed and still queued, or rendering
        _, lease = reserve_job(store, job_id, Settings.from_env(), allow=("queued",))
        if state == "running":
            start(store, lease)
        for _ in range(3):  # three cron passes, a minute apart
            _last_fired_a_minute_ago(store, "every-minute")
            r = cli("schedule", "run-due", "--wait", "0")
            assert r.exit_code == 0, r.output
            assert f"skipped: its previous job {job_id} is still {state}" in r.stderr
        assert [(j.id, j.status) for j in store.list_jobs()] == [(job_id, state)]
    finally:
        store.close()
