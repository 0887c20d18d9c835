"""The queue's proofs with real `python -m fenta worker` processes, real SQLite and real FFmpeg:
chaos (SIGKILL at random moments), several workers on one FENTA_HOME, retry / dead / revive against
fake providers, cancel from another process, SIGTERM / Ctrl-C, and `jobs watch --json`.

Waits are scaled down through settings (FENTA_POLL_SECONDS, FENTA_RETRY_BASE_SECONDS, ...), never by
mocking. The full-size chaos and concurrency runs are marked `slow` (`pytest -m slow`); a smaller
version of each runs by default.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fenta
from fenta.engine.events import read_events
from fenta.engine.store import JobStore
from tests.fakes.fixtures import openrouter_fake  # noqa: F401
from tests.fakes.kie import FAST_ENV, fake_kie  # noqa: F401

#: Queue timings for the worker processes: polls in hundredths of a second, retries almost at once.
FAST = {
    "FENTA_POLL_SECONDS": "0.05",
    "FENTA_HEARTBEAT_SECONDS": "0.2",
    "FENTA_LEASE_SECONDS": "5",
    "FENTA_RETRY_BASE_SECONDS": "0.05",
    "FENTA_BACKOFF_SCALE": "0.01",
}

TINY = """
version: 1
name: {name}
template: square
overrides: {{canvas: {{width: {size}, height: {size}, fps: 10}}}}
retry: {{max_retries: {retries}}}
nodes:
  script: {{type: Input.Text, params: {{text: "{text}"}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  {clips}
  timeline: {{type: Timeline, inputs: {{clips: {source}.clips, voice: voice.audio}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: ultrafast}}
    inputs: {{timeline: timeline.timeline}}
"""
BACKDROP = "backdrop: {type: Input.Background, params: {style: gradient, count: 1}}"
KIE_IMAGE = (
    'gen: {{type: AI.Image, params: {{model: flux-2/pro-text-to-image, prompt: "a fox, picture {i}",'
    " resolution: 2K}}}}"
)

#: A render that runs for many seconds (cancel and stop proofs): 120 s of 480p at the medium preset.
LONG = """
version: 1
name: {name}
template: square
overrides: {{canvas: {{width: 480, height: 480, fps: 25}}}}
nodes:
  backdrop: {{type: Input.Background, params: {{style: gradient, count: 2}}}}
  timeline: {{type: Timeline, params: {{duration: {seconds}}}, inputs: {{clips: backdrop.clips}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: {preset}}}
    inputs: {{timeline: timeline.timeline}}
"""


@pytest.fixture
def env(fenta_home, monkeypatch):
    """The environment of the worker processes (and of this process's SDK calls)."""
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    return lambda: {**os.environ, "FENTA_HOME": str(fenta_home)}


def _fenta(env: dict, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fenta", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _submit(
    write,
    out: Path,
    n: int,
    *,
    kie: bool = False,
    retries: int = 3,
    prefix: str = "clip",
    budget: int | None = None,
    size: int = 160,
) -> list[str]:
    ids = []
    for i in range(n):
        clips, source = (KIE_IMAGE.format(i=i), "gen") if kie else (BACKDROP, "backdrop")
        text = TINY.format(
            name=f"{prefix}{i}",
            size=size,
            retries=retries,
            text=f"Clip number {i}.",
            clips=clips,
            source=source,
        )
        ids.append(
            fenta.submit(
                fenta.load(write(f"{prefix}{i}.yaml", text)),
                out=str(out),
                retry=None if budget is None else {"max_retries": budget},
            )
        )
    return ids


def _events(home: Path, job_id: str | None = None, types: list[str] | None = None):
    s = JobStore(home / "fenta.db")
    try:
        return read_events(s, job_id=job_id, types=types, limit=1_000_000)
    finally:
        s.close()


def _until(cond, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _children(pid: int, name: str = "ffmpeg") -> list[int]:
    """Live processes whose parent is `pid` and whose command names `name`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and name in cmd:
            found.append(int(entry.name))
    return found


def _drain(env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    p = _fenta(env, "worker", "--until-empty")
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _outputs_are_whole(out: Path, names: list[str]) -> None:
    """Each job's video published once under its own name, and no temporary file left behind."""
    files = sorted(p.name for p in out.iterdir())
    assert not [f for f in files if f.endswith(".part") or f.startswith(".")], files
    assert sorted(f for f in files if f.endswith(".mp4")) == sorted(f"{n}.mp4" for n in names)


# ---------------------------------------------------------------------------- chaos


def _chaos(write, fenta_home, tmp_path, fake_kie, env, *, jobs: int, kills: int, seed: int) -> dict:
    rng = random.Random(seed)
    out = tmp_path / "out"
    # Every kill is a retryable failure (a lapsed lease) that counts as an attempt, so a job that keeps
    # killing its worker cannot loop for ever; these jobs get a budget no number of kills here can use up.
    # A larger frame than elsewhere: renders long enough for kills to land in them too.
    ids = _submit(write, out, jobs, kie=True, prefix="chaos", budget=kills + 5, size=320)
    worker_env = {**env(), **FAST_ENV, "FENTA_KIE_URL": fake_kie.url}
    killed_in = []
    for _ in range(kills):
        before = len(_events(fenta_home, types=["node.started", "node.finished"]))
        p = _fenta(worker_env, "worker")
        try:
            # A random moment while the worker is doing something: after its next node event.
            _until(
                lambda p=p, before=before: (
                    len(_events(fenta_home, types=["node.started", "node.finished"])) > before
                    or p.poll() is not None
                ),
                90,
                "the worker to start a node",
            )
            time.sleep(rng.uniform(0.0, 0.6))
        finally:
            p.kill()
            p.wait()
        running = [e for e in fenta.jobs.list(limit=100) if e["status"] == "running"]
        killed_in.append(running[0]["current_node"] if running else None)
        if all(j["status"] == "completed" for j in fenta.jobs.list(limit=100)):
            break
    r = _drain(worker_env)
    assert r.returncode == 0, r.stderr
    rows = {j["id"]: j for j in fenta.jobs.list(limit=100)}
    assert {rows[i]["status"] for i in ids} == {"completed"}, [
        (i, rows[i]["status"], rows[i]["error"]) for i in ids
    ]
    _outputs_are_whole(out, [f"chaos{i}" for i in range(jobs)])
    for job_id in ids:
        finished = _events(fenta_home, job_id, ["node.finished"])
        renders = [e for e in finished if e.data["node"] == "render" and e.data["status"] == "completed"]
        assert len(renders) == 1, f"{job_id}: the final render was written {len(renders)} times"
        videos = [a for a in fenta.jobs.get(job_id)["artifacts"] if a["kind"] == "video"]
        assert len(videos) == 1
    prompts = [r.json()["input"]["prompt"] for r in fake_kie.creates]
    assert sorted(prompts) == sorted(f"a fox, picture {i}" for i in range(jobs)), (
        "a paid KIE task was created more than once"
    )
    lapsed = len([e for e in _events(fenta_home, types=["job.failed"]) if "lease lapsed" in e.data["error"]])
    attempts = {rows[i]["attempt"] for i in ids}
    return {
        "kills": len(killed_in),
        "killed_in": killed_in,
        "lapsed": lapsed,
        "max_attempt": max(attempts),
        "creates": len(prompts),
    }


def test_chaos_small_a_worker_killed_at_random_moments_loses_and_repeats_nothing(
    write, fenta_home, tmp_path, fake_kie, env
):
    got = _chaos(write, fenta_home, tmp_path, fake_kie, env, jobs=3, kills=4, seed=13)
    print("chaos (small):", got)
    assert got["kills"] >= 1


@pytest.mark.slow
def test_chaos_full_six_jobs_twenty_kills(write, fenta_home, tmp_path, fake_kie, env):
    got = _chaos(write, fenta_home, tmp_path, fake_kie, env, jobs=6, kills=20, seed=2024)
    print("chaos (full):", got)
    assert got["kills"] >= 10


# ---------------------------------------------------------------------------- concurrency


def _concurrency(write, fenta_home, tmp_path, env, *, workers: int, jobs: int) -> dict:
    out = tmp_path / "out"
    ids = _submit(write, out, jobs)
    t0 = time.monotonic()
    procs = [_fenta(env(), "worker", "--until-empty") for _ in range(workers)]
    outputs = [p.communicate(timeout=300) for p in procs]
    seconds = time.monotonic() - t0
    assert [p.returncode for p in procs] == [0] * workers, outputs
    text = "\n".join(o + e for o, e in outputs)
    assert "locked" not in text.lower(), text
    rows = {j["id"]: j for j in fenta.jobs.list(limit=100)}
    assert all(rows[i]["status"] == "completed" and rows[i]["attempt"] == 1 for i in ids)
    assert not any("locked" in (r["error"] or "") for r in rows.values())
    for job_id in ids:
        types = [
            e.type
            for e in _events(fenta_home, job_id)
            if e.type.startswith("job.") and e.type != "job.progress"
        ]
        assert types == ["job.queued", "job.started", "job.completed"], (job_id, types)
    _outputs_are_whole(out, [f"clip{i}" for i in range(jobs)])
    # Which worker ran what (from the worker logs): every job once, and the work was shared.
    ran = [line.split()[1] for o, _ in outputs for line in o.splitlines() if line.endswith("started")]
    assert sorted(ran) == sorted(ids)
    busy = sum(1 for o, _ in outputs if "started" in o)
    return {"workers": workers, "jobs": jobs, "seconds": round(seconds, 1), "workers_that_ran_jobs": busy}


def test_concurrency_small_four_workers_six_jobs_each_completed_once(write, fenta_home, tmp_path, env):
    got = _concurrency(write, fenta_home, tmp_path, env, workers=4, jobs=6)
    print("concurrency (small):", got)
    assert got["workers_that_ran_jobs"] >= 2


@pytest.mark.slow
def test_concurrency_four_workers_twelve_jobs_each_completed_once(write, fenta_home, tmp_path, env):
    got = _concurrency(write, fenta_home, tmp_path, env, workers=4, jobs=12)
    print("concurrency (full):", got)
    assert got["workers_that_ran_jobs"] >= 2


# ---------------------------------------------------------------------------- retries against fake providers

SCRIPT = """
version: 1
name: scripted
retry: {{max_retries: 3, base_seconds: {base}}}
nodes:
  script: {{type: Script.Gen, params: {{topic: octopuses, seconds: 15, scenes: 2}}}}
"""


def test_a_provider_answering_503_until_the_second_attempt_completes_on_attempt_2(
    write, fenta_home, env, openrouter_fake
):
    openrouter_fake.fault("503", times=10_000)
    job_id = fenta.submit(fenta.load(write("wf.yaml", SCRIPT.format(base=0.5))), out="out")
    p = _fenta(env(), "worker", "--until-empty")
    try:
        _until(lambda: _events(fenta_home, job_id, ["job.retrying"]), 60, "job.retrying")
        with openrouter_fake.lock:
            openrouter_fake.faults.clear()  # the service is back for the second attempt
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    job = fenta.jobs.get(job_id)
    assert (job["job"]["status"], job["job"]["attempt"]) == ("completed", 2)
    evs = _events(fenta_home, job_id)
    failed = next(e for e in evs if e.type == "job.failed")
    retrying = next(e for e in evs if e.type == "job.retrying")
    assert failed.data["retryable"] is True and "503" in failed.data["error"]
    assert retrying.data["attempt"] == 2 and 0.5 <= retrying.data["delaySeconds"] <= 1.0
    starts = [e for e in evs if e.type == "job.started"]
    from fenta.engine.events import parse_iso

    waited = parse_iso(starts[1].created_at) - parse_iso(retrying.created_at)
    assert waited >= retrying.data["delaySeconds"] - 0.05  # the wait really happened
    assert [a["outcome"] for a in job["attempts"]] == ["failed", "completed"]


def test_a_401_is_dead_after_one_attempt_and_jobs_retry_revives_it(
    write, fenta_home, env, openrouter_fake, cli
):
    openrouter_fake.fault("401", times=10_000)
    job_id = fenta.submit(fenta.load(write("wf.yaml", SCRIPT.format(base=0.05))), out="out")
    r = _drain(env())
    assert r.returncode == 0, r.stderr
    row = fenta.jobs.get(job_id)["job"]
    assert (row["status"], row["attempt"], row["retryable"]) == ("dead", 1, 0) and "401" in row["error"]
    listed = json.loads(cli("jobs", "--status", "dead", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]
    with openrouter_fake.lock:
        openrouter_fake.faults.clear()  # the key was fixed
    revived = _fenta(env(), "jobs", "retry", job_id, "--json")
    out, err = revived.communicate(timeout=60)
    assert revived.returncode == 0 and json.loads(out) == {"job_id": job_id, "status": "queued"}, err
    r = _drain(env())
    row = fenta.jobs.get(job_id)["job"]
    assert (row["status"], row["attempt"]) == ("completed", 2), r.stderr


# ---------------------------------------------------------------------------- cancel, stop, watch


def _long_job(write, out: Path, *, seconds: int = 120, preset: str = "medium", name: str = "long") -> str:
    return fenta.submit(
        fenta.load(write(f"{name}.yaml", LONG.format(name=name, seconds=seconds, preset=preset))),
        out=str(out),
    )


def _render_started(home: Path, job_id: str) -> bool:
    return any(e.data.get("node") == "render" for e in _events(home, job_id, ["node.started"]))


def test_cancel_from_another_process_stops_a_running_render_within_2s(write, fenta_home, tmp_path, env):
    out = tmp_path / "out"
    job_id = _long_job(write, out)
    p = _fenta(env(), "worker")
    try:
        _until(lambda: _render_started(fenta_home, job_id) and _children(p.pid), 90, "FFmpeg to render")
        time.sleep(0.5)
        ffmpeg = _children(p.pid)
        t0 = time.monotonic()
        row = fenta.jobs.cancel(job_id, wait=10)  # this test process is not the worker's
        took = time.monotonic() - t0
        assert row["status"] == "cancelled" and took < 2.0, took
        assert not [
            pid
            for pid in ffmpeg
            if Path(f"/proc/{pid}").exists()
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        ]
        assert not _children(p.pid)
        print(f"cancel: {took:.2f}s from request to cancelled, FFmpeg {ffmpeg} gone")
        assert not out.exists() or not list(out.iterdir())  # no partial output
        assert not list((fenta_home / "cache" / "tmp").glob("render-*"))  # the render's scratch folder too
        events = [e.type for e in _events(fenta_home, job_id)]
        assert events[-1] == "job.cancelled" and "node.failed" in events
        p.send_signal(signal.SIGTERM)  # the worker goes on with other jobs until stopped
        out_text, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_jobs_cancel_command_cancels_a_queued_job(write, fenta_home, tmp_path, env, cli):
    job_id = _long_job(write, tmp_path / "out")
    r = cli("jobs", "cancel", job_id, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"job_id": job_id, "status": "cancelled"}
    again = cli("jobs", "cancel", job_id)
    assert again.exit_code == 2 and "already cancelled" in again.stderr


#: Two renders of one timeline: they queue for the render slot (one at a time on a 2-core machine).
TWO_RENDERS = LONG + (
    "  again:\n"
    "    type: Render\n"
    "    params: {{profile: canvas, preset: ultrafast}}\n"
    "    inputs: {{timeline: timeline.timeline}}\n"
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_finishes_the_running_node_releases_the_job_and_exits_0(
    write, fenta_home, tmp_path, env, sig
):
    out = tmp_path / "out"
    job_id = fenta.submit(
        fenta.load(write("stop.yaml", TWO_RENDERS.format(name="stop", seconds=8, preset="veryfast"))),
        out=str(out),
    )

    def renders() -> list[str]:
        return [
            e.data["node"]
            for e in _events(fenta_home, job_id, ["node.started"])
            if e.data["type"] == "Render"
        ]

    p = _fenta(env(), "worker")
    try:
        _until(lambda: renders() and _children(p.pid), 90, "a render to start")
        running = renders()
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    job = fenta.jobs.get(job_id)
    nodes = {n["node"]: n["status"] for n in job["nodes"]}
    assert running and all(
        nodes[n] == "completed" for n in running
    )  # what was running finished and is checkpointed
    assert job["job"]["lease_pid"] is None and "failed" not in nodes.values()
    print(f"stop ({signal.Signals(sig).name}): {running} finished, job {job['job']['status']}")
    if job["job"]["status"] == "queued":  # the other render had not started: given back, not counted
        assert (
            job["job"]["attempt"] == 0
            and [e.type for e in _events(fenta_home, job_id, ["job.queued"])] == ["job.queued"] * 2
        )
        r = _drain(env())
        assert r.returncode == 0, r.stderr
    else:  # a machine with slots for both renders finished the whole job before stopping
        assert job["job"]["status"] == "completed"
    for node in running:
        finished = [
            e.data["status"] for e in _events(fenta_home, job_id, ["node.finished"]) if e.data["node"] == node
        ]
        assert finished[0] == "completed" and finished[1:] in (
            [],
            ["cached"],
        )  # rendered once, reused after the restart
    assert fenta.jobs.get(job_id)["job"]["status"] == "completed" and (out / "stop-render.mp4").exists()


def test_jobs_watch_json_beside_a_worker_prints_every_job_from_started_to_completed_in_order(
    write, fenta_home, tmp_path, env
):
    ids = _submit(write, tmp_path / "out", 3)
    watch = _fenta(env(), "jobs", "watch", "--json", "--since", "0", "--until-empty")
    worker = _fenta(env(), "worker", "--until-empty")
    w_out, w_err = worker.communicate(timeout=180)
    out, err = watch.communicate(timeout=60)
    assert worker.returncode == 0 and watch.returncode == 0, (w_err, err)
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    for job_id in ids:
        mine = [
            e["type"]
            for e in events
            if e["jobId"] == job_id and e["type"].startswith("job.") and e["type"] != "job.progress"
        ]
        assert mine == ["job.queued", "job.started", "job.completed"], mine
        nodes = [e for e in events if e["jobId"] == job_id and e["type"] == "node.finished"]
        assert {e["data"]["node"] for e in nodes} == {"script", "voice", "backdrop", "timeline", "render"}
    completed = next(e for e in events if e["type"] == "job.completed")
    assert set(completed["data"]) == {"jobId", "videoUrl", "duration", "cost"} and completed["data"][
        "videoUrl"
    ].startswith("file://")
