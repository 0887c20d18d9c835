"""No deja vu: Input.Stock skips clips the workflow's recent jobs showed while another candidate fits; the
history is in fenta.db (table clip_history), seen by the rows of a batch and carried to and from Dask workers.

Days pass by moving the stored history back (the store's own timestamps), not by mocking a clock."""

from __future__ import annotations

import json

import fenta
from fenta.config import Settings
from fenta.engine.store import JobStore
from tests.fakes.fixtures import pexels_fake  # noqa: F401

WF = """
version: 1
name: daily-facts
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320}}}}
nodes:
  stock:
    type: Input.Stock
    params: {params}
"""

DAY = 86400.0


def store() -> JobStore:
    return JobStore(Settings.from_env().db_path)


def days_pass(days: float) -> None:
    """Move every remembered clip `days` into the past (as if it had been shown that long ago)."""
    s = store()
    try:
        s.conn.execute("UPDATE clip_history SET created_at = created_at - ?", (days * DAY,))
    finally:
        s.close()


def run_day(write, params: dict) -> list[int]:
    path = write("daily.yaml", WF.format(params=json.dumps(params)))
    r = fenta.run(fenta.load(path), out="out")
    assert r.status == "completed", r.error
    return [p["id"] for p in r.outputs["stock"]["picks"]]


def test_a_daily_run_of_the_same_topic_shows_different_clips_three_days_in_a_row(write, pexels_fake):
    params = {"queries": ["ocean waves", "city night"]}
    days = []
    for _ in range(3):
        days.append(run_day(write, params))
        days_pass(1)
    assert len({clip for day in days for clip in day}) == 6  # two clips a day, none shown twice
    s = store()
    rows = s.recent_clips("daily-facts", 0)
    s.close()
    assert len(rows) == 6 and {r["provider"] for r in rows} == {"pexels-video"}


def test_clips_older_than_avoid_recent_days_may_be_shown_again(write, pexels_fake):
    params = {"queries": ["ocean waves"], "avoid_recent_days": 30}
    first = run_day(write, params)
    days_pass(31)
    assert run_day(write, params) == first


def test_avoid_recent_days_0_turns_the_memory_off(write, pexels_fake):
    params = {"queries": ["ocean waves"], "avoid_recent_days": 0}
    assert run_day(write, params) == run_day(write, params)


def test_when_only_recent_clips_fit_one_is_shown_again_with_a_notice(write, pexels_fake, cli):
    pexels_fake.stock("lighthouse", [{"slug": "lighthouse"}])  # one word: no broader search
    path = write("daily.yaml", WF.format(params=json.dumps({"queries": ["lighthouse"]})))
    first = fenta.run(fenta.load(path), out="out")
    result = cli("run", str(path), "-o", "out")
    assert result.exit_code == 0, result.output
    assert "shown in the last 30 days; showing one again" in result.output
    s = store()
    assert len(s.recent_clips("daily-facts", 0)) == 2
    s.close()
    assert first.outputs["stock"]["picks"][0]["id"] == 5000


def test_a_job_that_died_no_longer_counts(write, pexels_fake):
    params = {"queries": ["ocean waves"]}
    first = run_day(write, params)
    s = store()
    s.conn.execute("UPDATE jobs SET status = 'dead'")
    s.close()
    assert run_day(write, params) == first


def test_the_rows_of_a_batch_show_different_clips(write, pexels_fake, cli, tmp_path):
    write("rows.csv", "name,q\none,ocean waves\ntwo,ocean waves\nthree,ocean waves\n")
    write(
        "daily.yaml",
        WF.format(params=json.dumps({"queries": ["${vars.q}"]})).replace(
            "version: 1", "version: 1\nvars: {q: x}"
        ),
    )
    result = cli("batch", "run", "daily.yaml", "rows.csv", "-o", "out", "--concurrency", "3")
    assert result.exit_code == 0, result.output
    s = store()
    ids = [r["clip_id"] for r in s.recent_clips("daily-facts", 0)]
    s.close()
    assert len(ids) == 3 and len(set(ids)) == 3


def test_a_dask_worker_sees_the_clients_history_and_its_picks_come_back(
    write, fenta_home, pexels_fake, tmp_path
):
    from fenta.engine import remote
    from fenta.engine.executors.dask import _outcome
    from fenta.engine.executors.payload import build_payload

    params = {"queries": ["ocean waves", "city night"]}
    yesterday = run_day(write, params)
    job_id = fenta.submit(
        fenta.load(write("daily.yaml", WF.format(params=json.dumps(params)))), out=str(tmp_path / "out")
    )
    s = store()
    try:
        payload = build_payload(s.get_job(job_id), s, topic="", attempt=1)
        assert sorted(int(c["clip_id"]) for c in payload["clips"]) == sorted(yesterday)
        answer = remote.run_job(payload)  # what a Dask worker runs, called here (its own scratch fenta.db)
        assert answer["ok"], answer.get("error")
        today = [p["id"] for p in answer["outputs"]["stock"]["picks"]]
        assert not set(today) & set(yesterday)
        s.import_records(job_id, _outcome(answer, {"seen": set()}).records or {})
        rows = s.recent_clips("daily-facts", 0)
    finally:
        s.close()
    assert sorted(int(r["clip_id"]) for r in rows if r["job_id"] == job_id) == sorted(today)
