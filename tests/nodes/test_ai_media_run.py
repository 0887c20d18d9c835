"""AI media through the CLI: a killed run resumes without paying twice; dry run and --max-cost spend
nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from fenta.config import Settings
from fenta.engine.store import JobStore
from tests.conftest import REPO
from tests.fakes.kie import FAST_ENV, fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: slow-ai
template: karaoke-bold
overrides: {canvas: {width: 180, height: 320, fps: 15}}
nodes:
  gen:
    type: AI.Image
    params: {model: flux-2/pro-text-to-image, prompt: "a fox in the snow", resolution: 2K}
  timeline: {type: Timeline, params: {duration: 3}, inputs: {clips: gen.clips}}
  render: {type: Render, params: {profile: 360p}, inputs: {timeline: timeline.timeline}}
"""


def test_a_run_killed_while_polling_resumes_the_same_task_and_pays_once(fake_kie, write, fenta_home, cli):
    fake_kie.next_outcomes = ["never"]
    wf = write("wf.yaml", WF)
    env = {
        **os.environ,
        **FAST_ENV,
        "FENTA_HOME": str(fenta_home),
        "FENTA_KIE_URL": fake_kie.url,
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "run", str(wf), "-o", "out", "--yes"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            fake_kie.tasks and len(fake_kie.polls_of(next(iter(fake_kie.tasks)))) >= 3
        ):
            time.sleep(0.05)
        (task_id,) = fake_kie.tasks
        store = JobStore(Settings.from_env().db_path)
        row = list(store.db.query("select task_id, status from provider_tasks"))
        assert row == [{"task_id": task_id, "status": "running"}]  # stored before (and updated while) polling
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    polls_before = len(fake_kie.polls_of(task_id))
    (job,) = list(store.db.query("select id, status from jobs"))
    assert job["status"] == "running"  # killed: no chance to record anything else

    fake_kie.finish(task_id)
    result = cli("resume", job["id"], "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "completed" and os.path.getsize(out["video"]) > 0
    assert len(fake_kie.creates) == 1
    assert len(fake_kie.polls_of(task_id)) > polls_before
    assert [r["status"] for r in store.db.query("select status from provider_tasks")] == ["succeeded"]


def test_dry_run_estimates_the_ai_cost_and_makes_no_request(fake_kie, write, cli):
    result = cli("run", str(write("wf.yaml", WF)), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["cost"] == {"kie": 7 * 0.005} and out["total_cost"] == 0.035  # flux-2 pro at 2K: 7 credits
    assert fake_kie.requests == []


def test_max_cost_below_the_estimate_stops_before_any_request(fake_kie, write, cli):
    result = cli("run", str(write("wf.yaml", WF)), "--max-cost", "0.01", "--yes")
    assert result.exit_code == 2
    assert "exceeds --max-cost" in result.output and "nothing was run" in result.output
    assert fake_kie.requests == []


def test_max_cost_above_the_estimate_runs(fake_kie, write, cli):
    result = cli("run", str(write("wf.yaml", WF)), "--max-cost", "0.05", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cost"] == 0.025  # billed what KIE reported: 5 credits


def test_credits_command_shows_balance_and_spend(fake_kie, write, cli):
    fake_kie.balance = 321.0
    assert cli("run", str(write("wf.yaml", WF)), "--yes").exit_code == 0
    result = cli("credits", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "provider": "kie",
        "balance": 316.0,
        "spent_30d": {"credits": 5.0, "cost": 0.025},
    }


def test_credits_without_a_key_is_one_clear_error(cli, monkeypatch):
    result = cli("credits")
    assert result.exit_code != 0 and "KIE_API_KEY is not set" in result.output


def test_credits_prices_lists_the_table_without_a_request(fake_kie, cli):
    result = cli("credits", "--prices", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert rows["veo3_fast"]["credits"] == 60 and rows["veo3_fast"]["unit"] == "clip"
    assert rows["flux-2/pro-text-to-image"]["resolutions"] == {"1K": 5.0, "2K": 7.0}
    assert fake_kie.requests == []
