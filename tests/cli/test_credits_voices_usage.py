"""credits, voices, usage and kie-callbacks as a user runs them: real fake servers, real SQLite, real
output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from fenta.config import Settings
from fenta.engine.store import JobStore
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

JOB_ID = "20261129-214455-a1b2c3d4"


def test_credits_without_flags_shows_the_balance_and_what_was_spent(cli, fake_kie):
    store = JobStore(Settings.from_env().db_path)
    store.record_usage(
        provider="kie", model="flux-kontext-pro", units="credits", quantity=12, cost=0.06, job_id=JOB_ID
    )
    store.close()
    r = cli("credits")
    assert r.exit_code == 0, r.output
    assert "1000 credits" in r.output and "12 credits" in r.output and "($0.06)" in r.output


def test_voices_prints_descriptions_with_brackets_as_written(cli):
    row = json.loads(cli("voices", "--engine", "piper", "--json").stdout)[0]
    assert "[" in row["description"] or row["description"] == "installed: yes"
    r = cli("voices", "--engine", "piper")
    assert r.exit_code == 0 and row["description"] in r.output


def test_voices_with_an_unknown_engine_is_a_usage_error_naming_the_choices(cli):
    r = cli("voices", "--engine", "nope")
    assert r.exit_code == 2
    assert all(name in r.output for name in ("espeak", "piper", "edge"))


def _run_fenta(*args: str, env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
    """The real `fenta` process with stdout piped, as in a CI log (not a terminal)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "fenta", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def test_usage_in_a_log_prints_long_provider_and_unit_names_whole(fenta_home):
    store = JobStore(Settings.from_env().db_path)
    long_provider = "openrouter-" + "x" * 90
    store.record_usage(
        provider=long_provider,
        model="m",
        units="prompt-and-completion-tokens-" + "y" * 60,
        quantity=123456,
        cost=0.5,
    )
    store.close()
    r = _run_fenta("usage")
    assert r.returncode == 0, r.stderr
    assert long_provider in r.stdout and "…" not in r.stdout


def _at_80_columns(t) -> list[str]:
    import io

    from rich.console import Console

    screen = io.StringIO()
    Console(file=screen, width=80).print(t)
    return screen.getvalue().splitlines()


def test_on_an_80_column_terminal_id_and_path_columns_stay_whole_and_other_columns_wrap():
    from fenta.cli._tables import table, whole

    video = f"renders/{JOB_ID}/fact.mp4"
    t = table(whole("job"), "workflow", "status", whole("video"))
    t.add_row(JOB_ID, "a workflow with a rather long descriptive name", "completed", video)
    lines = _at_80_columns(t)
    assert any(JOB_ID in line and video in line for line in lines), lines


def test_on_a_too_narrow_terminal_an_id_folds_onto_the_next_line_instead_of_being_cut():
    from fenta.cli._tables import table, whole

    t = table(whole("path"))
    path = "/very/deep/" + "d" * 100 + "/file.mp4"
    t.add_row(path)
    lines = _at_80_columns(t)
    assert "…" not in "".join(lines)
    assert "".join(line.strip("│ ") for line in lines[3:-1]) == path


def test_kie_callbacks_command_reads_the_secret_from_dotenv_and_refuses_unsigned_callbacks(
    tmp_path, fenta_home
):
    (tmp_path / ".env").write_text("FENTA_KIE_WEBHOOK_SECRET=whsec-from-dotenv\n")
    store = JobStore(Settings.from_env().db_path)
    store.save_provider_task(
        key="k1", provider="kie", task_id="t1", status="running", result={"family": "market"}
    )
    env = {"FENTA_HOME": str(fenta_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "kie-callbacks", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "FENTA_KIE_WEBHOOK_SECRET"}, **env},
    )
    try:
        line = proc.stdout.readline()
        assert "signatures checked" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split()[line.split().index("on") + 1]
        body = {
            "code": 200,
            "data": {"taskId": "t1", "state": "success", "resultJson": '{"resultUrls":["u"]}'},
        }
        r = httpx.post(url + "/hooks/kie", json=body, timeout=10)
    finally:
        proc.terminate()
        proc.wait(10)
    assert r.status_code == 401
    assert store.provider_task("k1")["status"] == "running"


def test_doctor_in_a_log_prints_a_long_home_path_with_brackets_whole(tmp_path):
    home = tmp_path / "renders [draft]" / ("a-rather-long-folder-name-" * 4) / "fenta-home"
    r = _run_fenta("doctor", env={"FENTA_HOME": str(home)})
    assert str(home) in r.stdout, r.stdout + r.stderr
