"""`fenta.run` / `fenta.resume` from a Python script: quotas before, webhooks and usage after, like
`fenta run`."""

from __future__ import annotations

import pytest

import fenta
from fenta.errors import QuotaError
from fenta.ops import quotas as q
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


def test_the_sdks_run_is_the_one_that_checks_quotas_and_sends_webhooks():
    assert fenta.run.__module__ == "fenta.ops.runs"
    assert fenta.resume.__module__ == "fenta.ops.runs"


def test_a_job_run_from_a_script_sends_its_signed_webhooks_before_run_returns(store, settings, tmp_path):
    with Receiver() as rx:
        rx.secret = wh.add_endpoint(store, rx.url).secret
        result = fenta.run(fenta.loads(NOTE), out=tmp_path / "out", settings=settings)
        assert result.status == "completed"
        types = [m["type"] for m in rx.verified()]
    assert types == ["job.started", "job.completed"]
    assert rx.verified("job.completed")[0]["data"]["jobId"] == result.job_id


def test_a_job_run_from_a_script_is_held_to_the_quota_and_nothing_runs(store, settings, tmp_path):
    q.set_limit(store, "jobs", 1, "day")
    assert fenta.run(fenta.loads(NOTE), out=tmp_path / "out", settings=settings).status == "completed"
    with pytest.raises(QuotaError, match="quota exceeded: jobs"):
        fenta.run(fenta.loads(NOTE), out=tmp_path / "out", settings=settings)
    assert store.db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1


def test_a_job_run_from_a_script_has_its_usage_recorded_when_run_returns(store, settings, tmp_path):
    result = fenta.run(fenta.loads(NOTE), out=tmp_path / "out", settings=settings, webhook_wait=0)
    rows = store.db.execute("SELECT provider FROM usage_records WHERE job_id = ?", [result.job_id]).fetchall()
    assert ("fenta",) in [tuple(r) for r in rows]
