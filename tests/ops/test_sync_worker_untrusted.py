"""`fenta worker --hosted` takes documents from anyone who can insert a row: every row is loaded under the
untrusted policy. A real worker process, with a `.env` holding a secret in its working folder and one
allowed folder (FENTA_ALLOWED_DIRS) holding a symlink out, is given rows that name `../` paths,
absolute paths, `.env`, the symlink, a template file and a logo: each row ends `failed` with one line
naming node and field, and the secret's bytes reach no Storage object, no row, no request, no log and
none of the worker's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.supabase import supabase_fake  # noqa: F401

MARK = "hunter2-s3cr3t-bytes-9c4a"


def _render(script_params: dict, **top) -> dict:
    """A whole video (script -> espeak voice -> captions -> render), so a file the script reads would
    end up spoken, captioned and uploaded as the job's .srt."""
    return {
        **top,
        "template": top.get("template", "square"),
        "overrides": {"canvas": {"width": 160, "height": 160, "fps": 10}, **top.get("overrides", {})},
        "nodes": {
            "script": {"type": "Input.Text", "params": script_params},
            "voice": {"type": "Voice.TTS", "params": {"engine": "espeak"}, "inputs": {"text": "script.text"}},
            "subs": {"type": "Subtitle", "inputs": {"words": "voice.words"}},
            "backdrop": {"type": "Input.Background", "params": {"style": "gradient", "count": 1}},
            "timeline": {
                "type": "Timeline",
                "inputs": {"clips": "backdrop.clips", "voice": "voice.audio", "subtitles": "subs.track"},
            },
            "render": {
                "type": "Render",
                "params": {"profile": "canvas", "preset": "ultrafast"},
                "inputs": {"timeline": "timeline.timeline"},
            },
        },
    }


def _one(node_type: str, params: dict) -> dict:
    return {"nodes": {"n": {"type": node_type, "params": params}}}


@pytest.fixture
def worker_dir(tmp_path) -> Path:
    """The worker's working folder: its `.env` (a secret next to its keys) and an allowed media folder
    in which someone left a symlink to the `.env`."""
    here = tmp_path / "worker"
    (here / "media").mkdir(parents=True)
    (here / ".env").write_text(f"SOME_PASSWORD={MARK}\n")
    (here / "media" / "clip.mp4").symlink_to(here / ".env")
    return here


def test_hosted_rows_naming_local_files_each_fail_with_one_line_and_leak_nothing(
    supabase_fake, fenta_home, worker_dir
):
    env_file = str(worker_dir / ".env")
    rows = {  # row id -> (document, the node and field its one line must name)
        "dot-env": (_render({"path": ".env"}), "node 'script', field 'params.path'"),
        "dot-dot": (_render({"path": "../worker/.env"}), "node 'script', field 'params.path'"),
        "absolute": (_one("Music", {"path": env_file}), "node 'n', field 'params.path'"),
        "asset": (_one("Input.Asset", {"paths": [env_file]}), "node 'n', field 'params.paths[0]'"),
        "symlink": (_one("Input.Asset", {"paths": ["media/clip.mp4"]}), "node 'n', field 'params.paths[0]'"),
        "align": (_one("Voice.Align", {"audio": ".env", "text": "hello"}), "node 'n', field 'params.audio'"),
        "template": (_render({"text": "hi"}, template=env_file), "field 'template'"),
        "logo": (
            _render({"text": "hi"}, overrides={"logo": {"path": env_file}}),
            "field 'overrides.logo.path'",
        ),
    }
    for rid, (doc, _) in rows.items():
        supabase_fake.queue_job(doc, id=rid)
    env = {**os.environ, "FENTA_ALLOWED_DIRS": str(worker_dir / "media"), "FENTA_POLL_SECONDS": "0.02"}
    proc = subprocess.run(
        [sys.executable, "-m", "fenta", "worker", "--hosted", "--until-empty"],
        cwd=worker_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"hosted worker stopped: {len(rows)} job(s), 0 completed"
    got = {r["id"]: r for r in supabase_fake.rows("jobs")}
    for rid, (_, where) in rows.items():
        row = got[rid]
        assert row["status"] == "failed" and row["retryable"] is False and row["lease_expires_at"] is None, (
            rid,
            row,
        )
        assert "\n" not in row["error"] and row["error"].startswith(f"hosted job {rid}, "), (
            rid,
            row["error"],
        )
        assert where in row["error"] and "untrusted workflow may" in row["error"], (rid, row["error"])
        assert f"hosted job {rid} failed before it ran: {row['error']}" in proc.stderr
    # The secret is nowhere: not in Storage, the rows, what was sent, the worker's output or its home.
    assert all(MARK.encode() not in data for data, _ in supabase_fake.buckets["renders"].values())
    assert MARK not in json.dumps(
        {t: supabase_fake.rows(t) for t in ("jobs", "job_events", "usage_records")}, default=str
    )
    assert all(MARK.encode() not in r.body for r in supabase_fake.requests)
    assert MARK not in proc.stdout + proc.stderr
    assert all(MARK.encode() not in p.read_bytes() for p in fenta_home.rglob("*") if p.is_file())
