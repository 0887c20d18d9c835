"""The bad-value corpus: numbers out of bounds (64-bit priorities, finite limits and waits), names that are
not one plain file name, report paths that cannot be written. Each is exit 2 and one line on stderr (no
traceback, no "internal error"), found before anything is queued, stored or written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

WF = """
version: 1
name: clip
template: square
overrides: {canvas: {width: 96, height: 96, fps: 10}}
nodes:
  backdrop: {type: Input.Background, params: {style: gradient, count: 1}}
  timeline: {type: Timeline, params: {duration: 1}, inputs: {clips: backdrop.clips}}
  render: {type: Render, params: {profile: canvas, preset: ultrafast}, inputs: {timeline: timeline.timeline}}
"""

HUGE = "99999999999999999999"
LONG = "a" * 300
#: 150 Cyrillic letters: 150 characters, 300 bytes of UTF-8.
LONG_CYRILLIC = "я" * 150
CRON = "0 9 * * *"

#: (arguments, words the one line must hold). WF is the workflow, ROWS a manifest written for the case,
#: FILE a path under a regular file (no folder can be made there, whoever runs the test).
CASES = [
    (["submit", "WF", "--priority", HUGE], "'--priority'"),
    (["submit", "WF", "--priority", "-" + HUGE], "fits 64 bits"),
    (["schedule", "add", "daily", "WF", "--cron", CRON, "--priority", HUGE], "'--priority'"),
    (["submit", "WF", "--max-cost", "inf"], "'--max-cost'"),
    (["run", "WF", "--max-cost", "nan"], "not a finite number"),
    (["run", "WF", "--max-cost", "-1"], "'--max-cost'"),
    (["quota", "set", "jobs", "nan"], "'LIMIT'"),
    (["quota", "set", "jobs", "inf"], "not a finite number"),
    (["quota", "set", "cost_usd", "1e400"], "not a finite number"),
    (["quota", "set", "jobs", "-1"], "out of range"),
    (["jobs", "--limit", HUGE], "'--limit'"),
    (["jobs", "--limit", "0"], "'--limit'"),
    (["jobs", "watch", "--since", HUGE], "'--since'"),
    (["webhooks", "deliveries", "--limit", HUGE], "'--limit'"),
    (["webhooks", "deliver", "--wait", "nan"], "'--wait'"),
    (["webhooks", "deliver", "--wait", "1e400"], "'--wait'"),
    (["schedule", "run-due", "--workers", HUGE], "'--workers'"),
    (["scheduler", "--workers", HUGE], "'--workers'"),
    (["usage", "--days", "0"], "'--days'"),
    (["kie-callbacks", "--port", "99999"], "'--port'"),
    (["batch", "WF", "ROWS:name\na\n", "--cluster", "local:" + HUGE], "from 1 to 256"),
    (["batch", "WF", "ROWS:name,priority\na,inf\n"], "row 1, field 'priority'"),
    (["batch", "WF", "ROWS:name,priority\na,1e400\n"], "row 1, field 'priority'"),
    (["batch", "WF", "ROWS:name,priority\na,1e30\n"], "row 1, field 'priority'"),
    (["batch", "WF", "ROWS:name\na\n", "--report", "FILE/report.json"], "--report folder"),
    (["batch", "WF", "ROWS:name\na\n", "--junit", "FILE/junit.xml"], "--junit folder"),
    (["batch", "WF", "ROWS:name\na\n", "--report", "FOLDER"], "--report"),
    (["run", "WF", "--name", LONG], "300 bytes long"),
    (["run", "WF", "--name", LONG_CYRILLIC], "300 bytes long"),
    (["submit", "WF", "--name", LONG], "300 bytes long"),
    (["run", "WF", "--name", "a/../b"], "'/'"),
    (["run", "WF", "--name", "a\\b"], "'\\'"),
    (["run", "WF", "--name", "tab\there"], "control character"),
    (["run", "WF", "--name", "bell\x07"], "control character"),
    (["run", "WF", "-o", f"out/{LONG}.mp4"], "300 bytes long"),
    (["run", "WF", "-o", f"out/{LONG}/"], "longer than 255 bytes"),
    (["render", "missing.timeline.json", "--name", LONG], "300 bytes long"),
    (["schedule", "add", "daily", "WF", "--cron", CRON, "-o", f"out/{LONG_CYRILLIC}.mp4"], "300 bytes long"),
    (["batch", "WF", f"ROWS:name\n{LONG}\n"], "row 1, field 'name'"),
]


def _args(args: list[str], write, tmp_path: Path) -> list[str]:
    write("afile", "a file, not a folder")
    (tmp_path / "a-folder").mkdir(exist_ok=True)
    out = []
    for a in args:
        if a == "WF":
            a = str(write("wf.yaml", WF))
        elif a.startswith("ROWS:"):
            a = str(write("rows.csv", a.removeprefix("ROWS:")))
        elif a.startswith("FILE/"):
            a = str(tmp_path / "afile" / a.removeprefix("FILE/"))
        elif a == "FOLDER":
            a = str(tmp_path / "a-folder")
        elif a.startswith("out/"):
            a = str(tmp_path / a)
        out.append(a)
    return out


def _stored(home: Path) -> dict[str, int]:
    """Rows in the tables a bad value must never reach."""
    db = home / "fenta.db"
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("jobs", "batches", "schedules", "quota_limits")
            if t in tables
        }
    finally:
        conn.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_a_bad_value_is_one_line_and_exit_2_before_anything_is_queued_or_written(
    cli, write, tmp_path, fenta_home, args, words
):
    r = cli(*_args(args, write, tmp_path))
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and words in line, r.stderr
    assert "Traceback" not in r.output and "internal error" not in r.output
    assert not any(_stored(fenta_home).values())
    renders = tmp_path / "renders"
    assert not (tmp_path / "out").exists() and (not renders.exists() or not any(renders.iterdir()))


@pytest.mark.timeout(60)
def test_cancel_with_a_wait_that_never_ends_is_refused_before_the_job_is_touched(cli, write, fenta_home):
    submitted = cli("submit", str(write("wf.yaml", WF)))
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.strip()
    r = cli("jobs", "cancel", job_id, "--wait", "inf")
    assert r.exit_code == 2 and "\n" not in r.stderr.strip() and "'--wait'" in r.stderr
    assert cli("jobs", "show", job_id, "--json").stdout.count('"status": "queued"') == 1


@pytest.mark.timeout(120)
def test_batch_resume_checks_its_report_path_before_anything_runs(cli, write, tmp_path):
    ran = cli(
        "batch",
        str(write("wf.yaml", WF)),
        str(write("rows.csv", "name\nfirst\n")),
        "-o",
        str(tmp_path / "videos"),
        "--json",
    )
    assert ran.exit_code == 0, ran.output
    batch_id = ran.stdout.split('"batch_id": "')[1].split('"')[0]
    write("afile", "a file, not a folder")
    before = sorted(p.name for p in (tmp_path / "videos").iterdir())
    r = cli("batch", "resume", batch_id, "--junit", str(tmp_path / "afile" / "junit.xml"))
    assert r.exit_code == 2 and "\n" not in r.stderr.strip() and "--junit folder" in r.stderr, r.output
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == before


def _make(kind: str, cli, write, make_media) -> str:
    """One job, webhook endpoint or asset; its id."""
    if kind in ("job", "sync"):
        r = cli("submit", str(write("wf.yaml", WF)))
        return r.stdout.strip()
    if kind == "webhook":
        r = cli("webhooks", "add", "http://127.0.0.1:9/hook", "--json")
        return r.stdout.split('"id": "')[1].split('"')[0]
    r = cli(
        "assets", "add", str(make_media("still.png", "color=c=red:s=32x32:d=1", "-frames:v", "1")), "--json"
    )
    return r.stdout.split('"id": "')[1].split('"')[0]


#: (what, the command that finds it by a prefix, its answer when nothing matches)
FINDERS = [
    ("job", ["jobs", "show"], "no job with id"),
    ("sync", ["sync", "--dry-run", "--job"], "no job with id"),
    ("webhook", ["webhooks", "remove"], "no webhook endpoint"),
    ("asset", ["assets", "show"], "no asset"),
]


@pytest.mark.parametrize(("kind", "command", "none"), FINDERS, ids=[f[0] for f in FINDERS])
@pytest.mark.parametrize("wildcard", ["%", "_"])
def test_an_id_prefix_matches_literally_so_percent_and_underscore_are_no_wildcards(
    cli, write, make_media, kind, command, none, wildcard
):
    made = _make(kind, cli, write, make_media)
    assert made[3] != "_"
    prefix = (
        "%%%%" if wildcard == "%" else made[:3] + "_"
    )  # as LIKE reads them, both match the only id there is
    r = cli(*command, prefix)
    assert r.exit_code == 2 and none in r.stderr and "\n" not in r.stderr.strip(), r.output
    assert cli(*command, made[:5]).exit_code == 0  # a real prefix still finds it
