"""`fenta cache` (size, entries) and `fenta cache prune` (by age or size, never what a running job
uses), and what a pruned entry means afterwards: the node runs again, `fenta render` says what is gone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from fenta.engine.cache import cache_files
from fenta.engine.store import JobStore
from tests.cli.test_run_outputs import TINY

DAY = 86400


def _run(cli, write, *args: str) -> dict:
    r = cli("run", str(write("wf.yaml", TINY)), "-o", "out", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _age_everything(home: Path, days: float) -> None:
    """Pretend every cache entry and file was last used `days` ago."""
    store = JobStore(home / "fenta.db")
    store.db.conn.execute("UPDATE node_cache SET used_at = used_at - ?", (days * DAY,))
    store.close()
    for root, _dirs, names in os.walk(home / "cache"):
        for n in names:
            p = Path(root) / n
            st = p.stat()
            os.utime(p, (st.st_atime - days * DAY, st.st_mtime - days * DAY))


def _entries(home: Path) -> dict[str, dict]:
    store = JobStore(home / "fenta.db")
    try:
        return {r["node_type"]: r for r in store.db.query("SELECT key, node_type, output FROM node_cache")}
    finally:
        store.close()


def _blob_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "cache" / "blobs").rglob("*") if p.is_file())


def test_cache_shows_its_folder_size_and_entries(cli, write, fenta_home):
    _run(cli, write)
    data = json.loads(cli("cache", "--json").stdout)
    assert data["folder"] == str(fenta_home / "cache")
    assert data["entries"] >= 5 and data["bytes"] == sum(a["bytes"] for a in data["areas"].values())
    assert data["areas"]["blobs"]["bytes"] == _blob_bytes(fenta_home)
    text = cli("cache").stdout
    assert str(fenta_home / "cache") in text and "entries" in text


def test_prune_older_than_removes_old_entries_and_their_files(cli, write, fenta_home):
    _run(cli, write)
    _age_everything(fenta_home, 60)
    r = cli("cache", "prune", "--older-than", "30d", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["entries"] >= 5
    assert _entries(fenta_home) == {} and _blob_bytes(fenta_home) == 0


def test_prune_older_than_keeps_entries_used_recently(cli, write, fenta_home):
    _run(cli, write)
    before = _entries(fenta_home)
    assert json.loads(cli("cache", "prune", "--older-than", "30d", "--json").stdout)["entries"] == 0
    assert _entries(fenta_home).keys() == before.keys()


def test_after_a_prune_a_run_makes_every_node_again_and_succeeds(cli, write, fenta_home):
    _run(cli, write)
    _age_everything(fenta_home, 60)
    cli("cache", "prune", "--older-than", "30d")
    again = _run(cli, write, "--overwrite")
    assert set(again["nodes"].values()) == {"completed"}


def test_prune_max_size_removes_the_least_recently_used_entries_first(cli, write, fenta_home):
    _run(cli, write)
    store = JobStore(fenta_home / "fenta.db")
    store.db.conn.execute("UPDATE node_cache SET used_at = used_at - ? WHERE node_type = 'Render'", (DAY,))
    store.close()
    total = json.loads(cli("cache", "--json").stdout)["bytes"]
    r = cli("cache", "prune", "--max-size", f"{(total - 1) / 1024:.3f}K", "--json")
    assert json.loads(r.stdout)["entries"] == 1
    left = _entries(fenta_home)
    assert "Render" not in left and {"Timeline", "Voice.TTS", "Input.Background"} <= set(left)


def test_prune_dry_run_reports_and_removes_nothing(cli, write, fenta_home):
    _run(cli, write)
    _age_everything(fenta_home, 60)
    before, size = _entries(fenta_home), _blob_bytes(fenta_home)
    report = json.loads(cli("cache", "prune", "--older-than", "30d", "--dry-run", "--json").stdout)
    assert report["dry_run"] is True and report["entries"] == len(before) and report["bytes"] > 0
    assert _entries(fenta_home).keys() == before.keys() and _blob_bytes(fenta_home) == size


def test_prune_never_deletes_files_a_running_job_has_checkpointed(cli, write, fenta_home):
    _run(cli, write)
    _age_everything(fenta_home, 60)
    voice = json.loads(_entries(fenta_home)["Voice.TTS"]["output"])
    store = JobStore(fenta_home / "fenta.db")
    store.create_job(
        job_id="live", name="x", workflow_hash="h", file=None, document={}, vars={}, out_dir="/tmp"
    )
    store.update_job("live", status="running", lease_pid=os.getpid(), started_at=time.time() - 5)
    store.node_finished("live", "voice", "Voice.TTS", status="completed", cache_key="k", output=voice)
    store.close()
    r = cli("cache", "prune", "--older-than", "30d", "--json")
    assert json.loads(r.stdout)["running_jobs"] == ["live"]
    kept = cache_files(voice, fenta_home / "cache")
    assert kept and all(p.exists() for p in kept)
    assert _entries(fenta_home) == {}


def test_a_resumed_job_runs_again_the_nodes_whose_cached_files_were_pruned(
    cli, write, fenta_home, make_media, tmp_path
):
    pic = tmp_path / "pic.png"
    pic.write_bytes(b"not a picture yet")
    wf = write(
        "wf.yaml",
        TINY.replace(
            "backdrop: {type: Input.Background, params: {style: gradient, count: 1}}",
            f"backdrop: {{type: Input.Asset, params: {{paths: ['{pic}']}}}}",
        ),
    )
    failed = json.loads(cli("run", str(wf), "-o", "out", "--json").stdout)
    assert failed["status"] == "failed" and failed["nodes"]["voice"] == "completed"
    _age_everything(fenta_home, 60)
    cli("cache", "prune", "--older-than", "30d")
    pic.unlink()
    make_media("pic.png", "testsrc2=s=160x160:d=1", "-frames:v", "1")
    resumed = json.loads(cli("resume", failed["job_id"], "--json").stdout)
    assert resumed["status"] == "completed" and resumed["nodes"]["voice"] == "completed"


def test_render_of_a_timeline_whose_cached_files_were_pruned_names_the_file_and_the_workflow(
    cli, write, fenta_home, tmp_path
):
    first = _run(cli, write)
    _age_everything(fenta_home, 60)
    cli("cache", "prune", "--older-than", "30d")
    r = cli("render", first["artifacts"]["timeline"], "-o", "again")
    assert r.exit_code == 2
    assert str(fenta_home / "cache") in r.stderr and "fenta cache prune" in r.stderr
    assert f"fenta run {tmp_path / 'wf.yaml'}" in r.stderr
    assert not (tmp_path / "again").exists()


def test_prune_needs_an_age_or_a_size(cli):
    r = cli("cache", "prune")
    assert r.exit_code == 2 and "--older-than" in r.output


def test_prune_refuses_an_age_it_cannot_read(cli):
    r = cli("cache", "prune", "--older-than", "soon")
    assert r.exit_code == 2 and "30d" in r.output
