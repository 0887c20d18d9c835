"""Jobs on Dask workers: a LocalCluster started here, and real `dask scheduler` / `dask worker`
processes in another folder with another FENTA_HOME. Real FFmpeg, real SQLite, the fake KIE.ai.

What each proves: the video lands in the client's output folder, only the client's store holds the
job (completed, with usage records, provider tasks and node timings sent back by the worker), local
media the workflow names travels to the worker, and a worker that cannot run jobs is named in one
line and gets no job.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import distributed  # the test extra installs fenta[dask]: these tests run in CI, never skip
import pytest

import fenta
from fenta.config import Settings
from fenta.engine.events import read_events
from fenta.engine.executors import make_executor
from fenta.engine.store import JobStore
from fenta.engine.worker import Worker
from fenta.errors import ClusterError
from tests.conftest import lavfi
from tests.fakes.kie import fake_kie  # noqa: F401  (a fixture)

#: A KIE image, an espeak voice and a music bed from a local file, rendered at 160x160.
KIE_JOB = """
version: 1
name: {name}
template: square
overrides: {{canvas: {{width: 160, height: 160, fps: 10}}}}
nodes:
  script: {{type: Input.Text, params: {{text: "Row number {i}."}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  gen:
    type: AI.Image
    params: {{model: flux-2/pro-text-to-image, prompt: "a fox, picture {i}", resolution: 2K}}
  music: {{type: Music, params: {{path: media/tune.wav}}}}
  timeline: {{type: Timeline, inputs: {{clips: gen.clips, voice: voice.audio, music_bed: music.music}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: ultrafast}}
    inputs: {{timeline: timeline.timeline}}
"""

#: No provider: a gradient backdrop and an espeak voice.
PLAIN_JOB = """
version: 1
name: {name}
template: square
overrides: {{canvas: {{width: 160, height: 160, fps: 10}}}}
nodes:
  script: {{type: Input.Text, params: {{text: "Row number {i}."}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}
  timeline: {{type: Timeline, inputs: {{clips: backdrop.clips, voice: voice.audio}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: ultrafast}}
    inputs: {{timeline: timeline.timeline}}
"""

FAST = {"FENTA_POLL_SECONDS": "0.05", "FENTA_HEARTBEAT_SECONDS": "0.2", "FENTA_LEASE_SECONDS": "10"}


def _rows(home: Path, sql: str, args: list) -> list[dict]:
    store = JobStore(home / "fenta.db")
    try:
        return [dict(r) for r in store.db.query(sql, args)]
    finally:
        store.close()


def _job_types(home: Path, job_id: str) -> list[str]:
    store = JobStore(home / "fenta.db")
    try:
        return [
            e.type
            for e in read_events(store, job_id=job_id, limit=100000)
            if e.type.startswith("job.") and e.type != "job.progress"
        ]
    finally:
        store.close()


def test_a_job_on_a_local_cluster_lands_in_the_clients_folder_with_its_records_in_the_clients_store(
    write, fenta_home, tmp_path, fake_kie, monkeypatch, recwarn
):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "media").mkdir()
    # 11 MB: inside the task it would pass Dask's large-graph warning (10 MB); it travels by client.scatter.
    lavfi(tmp_path / "media" / "tune.wav", "sine=frequency=330:duration=65", "-ac", "2")
    assert (tmp_path / "media" / "tune.wav").stat().st_size > 10 << 20
    out = tmp_path / "out"
    job_id = fenta.submit(
        fenta.load(write("row.yaml", KIE_JOB.format(name="row1", i=1))), out=str(out), batch_id="b1"
    )
    seen: list[str] = []
    with make_executor("local:1", Settings.from_env()) as ex:
        assert ex.slots == 1 and ex.problems == []
        results = Worker(
            until_empty=True, executor=ex, batch_id="b1", on_event=lambda e: seen.append(e.type)
        ).run()
    assert [r.status for r in results] == ["completed"], [r.error for r in results]
    assert (out / "row1.mp4").stat().st_size > 1000
    assert fenta.jobs.get(job_id)["job"]["status"] == "completed"
    usage = _rows(fenta_home, "SELECT provider, units, node_id FROM usage_records WHERE job_id = ?", [job_id])
    assert usage == [{"provider": "kie", "units": "credits", "node_id": "gen"}]
    tasks = _rows(
        fenta_home, "SELECT provider, status, node_id FROM provider_tasks WHERE job_id = ?", [job_id]
    )
    assert tasks == [{"provider": "kie", "status": "succeeded", "node_id": "gen"}]
    nodes = {
        r["node_id"]: r
        for r in _rows(
            fenta_home, "SELECT node_id, status, seconds FROM node_runs WHERE job_id = ?", [job_id]
        )
    }
    assert set(nodes) == {"script", "voice", "gen", "music", "timeline", "render"}
    assert all(n["status"] == "completed" and n["seconds"] > 0 for n in nodes.values())
    # The reader saw the nodes as they ran on the worker, then the end of the job.
    assert "node.started" in seen and seen.index("node.started") < seen.index("job.completed")
    assert _job_types(fenta_home, job_id) == ["job.queued", "job.started", "job.completed"]
    assert not [w for w in recwarn if "large graph" in str(w.message)]


# ---------------------------------------------------------------------------- real processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes, run from another folder with another
    FENTA_HOME: one worker can run jobs, the other's FENTA_FFMPEG names a file that is not FFmpeg."""
    where = tmp_path_factory.mktemp("elsewhere")
    not_ffmpeg = where / "not-ffmpeg"
    not_ffmpeg.write_text("#!/bin/sh\necho 'this is not ffmpeg'\n")
    not_ffmpeg.chmod(0o755)
    dask = str(Path(sys.executable).parent / "dask")
    # Nothing of the client's: no FENTA_* settings, no API keys (a worker reads its own).
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FENTA_", "DASK_")) and not k.endswith("_API_KEY")
    }
    base |= {"FENTA_HOME": str(where / "worker-home"), "PYTHONPATH": os.pathsep.join(sys.path)}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = where / "logs"
    logs.mkdir()
    procs = []

    def start(name: str, args: list[str], env: dict) -> None:
        log = open(logs / f"{name}.log", "w")
        procs.append(
            subprocess.Popen([dask, *args], cwd=where, env=env, stdout=log, stderr=subprocess.STDOUT)
        )

    try:
        start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], base)
        # --no-nanny: each worker is one process, so stopping it here leaves nothing behind.
        worker_args = [
            "worker",
            address,
            "--nthreads",
            "1",
            "--resources",
            "render=1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
            "--no-nanny",
        ]
        start("good", [*worker_args, "--name", "good"], base)
        start("bad", [*worker_args, "--name", "bad"], {**base, "FENTA_FFMPEG": str(not_ffmpeg)})
        deadline = time.monotonic() + 60
        while True:
            try:
                with distributed.Client(address, timeout=5) as c:
                    c.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError) as e:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "the dask processes did not start: "
                        + " | ".join(p.read_text()[-500:] for p in logs.iterdir())
                    ) from e
                time.sleep(0.5)
        yield {"address": address, "where": where}
    finally:
        for p in procs[
            ::-1
        ]:  # the workers first (killed: nothing of theirs needs keeping), then the scheduler
            p.kill() if p is not procs[0] else p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _warnings_and_executor(address: str):
    lines: list[str] = []
    ex = make_executor(address, Settings.from_env(), on_warning=lines.append)
    return ex, lines


def test_a_worker_that_cannot_run_jobs_is_named_in_one_line_and_left_out(dask_processes):
    ex, lines = _warnings_and_executor(dask_processes["address"])
    with ex:
        assert ex.slots == 1
    assert len(lines) == 1 and "\n" not in lines[0]
    assert (
        lines[0].startswith("dask worker tcp://127.0.0.1:")
        and "cannot use FFmpeg" in lines[0]
        and "not-ffmpeg" in lines[0]
    )


def test_three_jobs_of_a_batch_run_on_dask_worker_processes_elsewhere(
    write, fenta_home, tmp_path, dask_processes, monkeypatch
):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "out"
    ids = [
        fenta.submit(
            fenta.load(write(f"r{i}.yaml", PLAIN_JOB.format(name=f"row{i}", i=i))),
            out=str(out),
            batch_id="b3",
        )
        for i in range(3)
    ]
    ex, _ = _warnings_and_executor(dask_processes["address"])
    with ex:
        results = Worker(concurrency=3, until_empty=True, executor=ex, batch_id="b3").run()
    assert sorted(r.status for r in results) == ["completed"] * 3, [r.error for r in results]
    assert sorted(p.name for p in out.glob("*.mp4")) == ["row0.mp4", "row1.mp4", "row2.mp4"]
    for (
        job_id
    ) in ids:  # each ran once, on the worker that can run jobs (one sent to the other would show a re-queue)
        assert _job_types(fenta_home, job_id) == ["job.queued", "job.started", "job.completed"]
    # The workers never saw the client's FENTA_HOME: nothing of theirs is in it, and theirs holds no job.
    assert not (dask_processes["where"] / "worker-home" / "fenta.db").exists()


def test_a_cluster_where_no_worker_can_run_jobs_is_refused_before_any_job_is_sent(tmp_path):
    from fenta.engine.executors.dask import DaskExecutor

    not_ffmpeg = tmp_path / "not-ffmpeg.txt"
    not_ffmpeg.write_text("plain text")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        resources={"render": 1},
        dashboard_address=":0",
        env={"FENTA_FFMPEG": str(not_ffmpeg)},
    )
    client = distributed.Client(cluster)
    try:
        with pytest.raises(ClusterError) as e:
            DaskExecutor(
                client, Settings.from_env(), address=cluster.scheduler_address, on_warning=lambda line: None
            )
        assert str(e.value).startswith(
            f"no Dask worker at {cluster.scheduler_address} can run fenta jobs (tcp://127.0.0.1:"
        )
        assert "FENTA_FFMPEG" in str(e.value) and "\n" not in str(e.value) and e.value.exit_code == 2
    finally:
        client.close()
        cluster.close()


#: A render long enough to be killed in the middle of: 6 s of 320x320 at the medium preset.
LONG_JOB = """
version: 1
name: {name}
template: square
overrides: {{canvas: {{width: 320, height: 320, fps: 25}}}}
nodes:
  backdrop: {{type: Input.Background, params: {{style: gradient, count: 2}}}}
  timeline: {{type: Timeline, params: {{duration: 6}}, inputs: {{clips: backdrop.clips}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: medium}}
    inputs: {{timeline: timeline.timeline}}
"""


def test_a_worker_killed_in_the_middle_of_a_job_fails_that_attempt_and_the_retry_runs_on_another(
    write, fenta_home, tmp_path, monkeypatch
):
    import signal
    import threading

    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "out"
    job_id = fenta.submit(
        fenta.load(write("long.yaml", LONG_JOB.format(name="long"))),
        out=str(out),
        batch_id="bk",
        retry={"max_retries": 2, "base_seconds": 0.05},
    )
    rendering = threading.Event()
    results: list = []
    with make_executor("local:2", Settings.from_env()) as ex:
        worker = Worker(
            until_empty=True,
            executor=ex,
            batch_id="bk",
            on_event=lambda e: (
                e.type == "node.started" and e.data.get("node") == "render" and rendering.set()
            ),
        )
        thread = threading.Thread(target=lambda: results.extend(worker.run()))
        thread.start()
        assert rendering.wait(60), "the render never started"
        busy = [addr for addr, keys in ex.client.processing().items() if keys]
        assert len(busy) == 1
        pid = ex.client.run(os.getpid, workers=busy)[busy[0]]
        os.kill(pid, signal.SIGKILL)
        thread.join(120)
        assert not thread.is_alive()
    assert [r.state for r in results] == ["failed", "completed"], [r.error for r in results]
    assert "Dask worker running this job was lost" in (results[0].error or "") and results[0].retryable
    assert (out / "long.mp4").stat().st_size > 1000
    # The retry's task removed the scratch folder the killed worker left (the retry's own is gone too).
    assert not list(Path(tempfile.gettempdir()).glob(f"fenta-{job_id}-*"))
    assert _job_types(fenta_home, job_id) == [
        "job.queued",
        "job.started",
        "job.failed",
        "job.retrying",
        "job.started",
        "job.completed",
    ]


def test_cancelling_a_job_stops_its_render_on_the_worker_and_keeps_what_the_worker_recorded(
    write, fenta_home, tmp_path, monkeypatch
):
    import threading

    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    # 3 minutes of 480x480 video: far longer than this test waits, so only a stop on the worker ends it
    # in time.
    long = LONG_JOB.replace("duration: 6", "duration: 180").replace(
        "width: 320, height: 320", "width: 480, height: 480"
    )
    job_id = fenta.submit(
        fenta.load(write("long.yaml", long.format(name="long"))), out=str(tmp_path / "out"), batch_id="bc"
    )
    rendering = threading.Event()
    results: list = []
    with make_executor("local:1", Settings.from_env()) as ex:
        worker = Worker(
            until_empty=True,
            executor=ex,
            batch_id="bc",
            on_event=lambda e: (
                e.type == "node.started" and e.data.get("node") == "render" and rendering.set()
            ),
        )
        thread = threading.Thread(target=lambda: results.extend(worker.run()))
        thread.start()
        assert rendering.wait(60), "the render never started"
        t0 = time.monotonic()
        fenta.jobs.cancel(job_id)
        thread.join(30)
        assert not thread.is_alive()
        assert time.monotonic() - t0 < 20
        # The worker is free again at once: nothing of the cancelled job is still running there.
        assert not any(ex.client.processing().values())
    assert [r.status for r in results] == ["cancelled"]
    nodes = {
        r["node_id"]: r["status"]
        for r in _rows(fenta_home, "SELECT node_id, status FROM node_runs WHERE job_id = ?", [job_id])
    }
    assert nodes == {"backdrop": "completed", "timeline": "completed", "render": "failed"}
    assert not list((tmp_path / "out").glob("*.mp4"))


def test_a_worker_that_joins_later_and_cannot_run_jobs_gives_its_job_back_and_is_left_out(
    write, fenta_home, tmp_path, monkeypatch
):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    not_ffmpeg = tmp_path / "not-ffmpeg.txt"
    not_ffmpeg.write_text("plain text")
    out = tmp_path / "out"
    ids = [
        fenta.submit(
            fenta.load(write(f"r{i}.yaml", PLAIN_JOB.format(name=f"row{i}", i=i))),
            out=str(out),
            batch_id="bl",
        )
        for i in range(2)
    ]
    lines: list[str] = []
    with make_executor("local:1", Settings.from_env(), on_warning=lines.append) as ex:
        env = {**os.environ, "FENTA_FFMPEG": str(not_ffmpeg), "PYTHONPATH": os.pathsep.join(sys.path)}
        late = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dask"),
                "worker",
                ex.cluster.scheduler_address,
                "--nthreads",
                "1",
                "--resources",
                "render=1",
                "--no-dashboard",
                "--no-nanny",
                "--host",
                "127.0.0.1",
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ex.client.wait_for_workers(2, timeout=60)
            # Two jobs at once, one render slot per worker: one of them is sent to the newcomer.
            results = Worker(concurrency=2, until_empty=True, executor=ex, batch_id="bl").run()
        finally:
            late.kill()
            late.wait()
    assert len(lines) == 1 and "cannot use FFmpeg" in lines[0] and "\n" not in lines[0]
    assert sorted(r.status for r in results) == ["completed", "completed", "stopped"]
    assert sorted(p.name for p in out.glob("*.mp4")) == ["row0.mp4", "row1.mp4"]
    given_back = [
        j
        for j in ids
        if _job_types(fenta_home, j)
        == ["job.queued", "job.started", "job.queued", "job.started", "job.completed"]
    ]
    assert len(given_back) == 1 and fenta.jobs.get(given_back[0])["job"]["attempt"] == 1


def test_a_key_missing_on_the_worker_fails_the_row_saying_where(
    write, fenta_home, tmp_path, fake_kie, monkeypatch, dask_processes
):
    # The client has KIE_API_KEY (fake_kie sets it); the worker processes were started without it.
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "media").mkdir()
    lavfi(tmp_path / "media" / "tune.wav", "sine=frequency=330:duration=1")
    job_id = fenta.submit(
        fenta.load(write("row.yaml", KIE_JOB.format(name="row1", i=1))),
        out=str(tmp_path / "out"),
        batch_id="bkey",
    )
    ex, _ = _warnings_and_executor(dask_processes["address"])
    with ex:
        results = Worker(until_empty=True, executor=ex, batch_id="bkey").run()
    assert [(r.state, r.retryable, r.exit_code) for r in results] == [("dead", False, 2)]
    assert "KIE_API_KEY" in results[0].error and "on the Dask worker tcp://127.0.0.1:" in results[0].error
    assert "kie-test-key" not in results[0].error
    assert fake_kie.creates == []
    assert fenta.jobs.get(job_id)["job"]["status"] == "dead"


def test_library_assets_by_id_and_tag_travel_to_the_worker_as_files(
    write, fenta_home, tmp_path, make_media, monkeypatch, dask_processes
):
    from fenta.library import add

    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    first = add(make_media("red.png", "color=c=red:s=160x160:d=1", "-frames:v", "1"))
    add(make_media("blue.png", "color=c=blue:s=160x160:d=1", "-frames:v", "1"), tags=["b-roll"])
    text = PLAIN_JOB.replace(
        "backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}",
        "backdrop: {{type: Input.Asset, params: {{asset: " + first.id + ", tag: b-roll}}}}",
    )
    fenta.submit(
        fenta.load(write("asset.yaml", text.format(name="lib", i=1))),
        out=str(tmp_path / "out"),
        batch_id="bas",
    )
    ex, _ = _warnings_and_executor(dask_processes["address"])
    with ex:
        results = Worker(until_empty=True, executor=ex, batch_id="bas").run()
    assert [r.status for r in results] == ["completed"], [r.error for r in results]
    clips = results[0].outputs["backdrop"]["clips"]
    assert [c["width"] for c in clips] == [160, 160] and len(clips) == 2  # the id's image, then the tag's
    assert (tmp_path / "out" / "lib.mp4").is_file()
    assert not (dask_processes["where"] / "worker-home" / "fenta.db").exists()  # the library stayed here


def test_a_library_asset_removed_after_queueing_fails_the_row_naming_node_and_field(
    write, fenta_home, tmp_path, make_media, monkeypatch, dask_processes
):
    from fenta.library import add, remove

    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    asset = add(make_media("clip.png", "color=c=red:s=160x160:d=1", "-frames:v", "1"), tags=["gone"])
    text = PLAIN_JOB.replace(
        "backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}",
        "backdrop: {{type: Input.Asset, params: {{tag: gone}}}}",
    )
    job_id = fenta.submit(
        fenta.load(write("asset.yaml", text.format(name="lib", i=1))),
        out=str(tmp_path / "out"),
        batch_id="bgone",
    )
    remove(asset.id)
    ex, _ = _warnings_and_executor(dask_processes["address"])
    with ex:
        results = Worker(until_empty=True, executor=ex, batch_id="bgone").run()
    assert [(r.state, r.exit_code) for r in results] == [("dead", 2)]
    assert "backdrop" in results[0].error and "params.tag" in results[0].error and "gone" in results[0].error
    assert fenta.jobs.get(job_id)["nodes"] == []  # nothing ran anywhere


def test_a_failure_on_the_worker_names_the_clients_file_not_the_workers_copy(
    write, fenta_home, tmp_path, monkeypatch, dask_processes
):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    notes = write("media files/notes.txt", "not a video\n")
    elsewhere = write("../other place/заметки.txt", "not a video either\n")
    ids = []
    for name, given in (("rel", "media files/notes.txt"), ("abs", str(elsewhere))):
        text = PLAIN_JOB.replace(
            "backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}",
            "backdrop: {{type: Input.Asset, params: {{paths: ['" + given + "']}}}}",
        )
        ids.append(
            fenta.submit(
                fenta.load(write(f"{name}.yaml", text.format(name=name, i=1))),
                out=str(tmp_path / "out"),
                batch_id="bpath",
            )
        )
    ex, _ = _warnings_and_executor(dask_processes["address"])
    with ex:
        results = Worker(concurrency=2, until_empty=True, executor=ex, batch_id="bpath").run()
    errors = {r.job_id: r.error for r in results}
    assert (
        errors[ids[0]].startswith(f"{notes}, node 'backdrop'")
        and "not a readable media file" in errors[ids[0]]
    )
    assert errors[ids[1]].startswith(f"{elsewhere}, node 'backdrop'")  # as written, as a local run says it
    node_errors = _rows(fenta_home, "SELECT error FROM node_runs WHERE job_id = ?", [ids[0]])
    assert [str(notes) in (r["error"] or "") for r in node_errors if r["error"]] == [True]


def test_fenta_worker_cluster_runs_the_queued_jobs_on_the_dask_workers(
    write, fenta_home, tmp_path, monkeypatch, dask_processes, cli
):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    job_id = fenta.submit(
        fenta.load(write("q.yaml", PLAIN_JOB.format(name="queued", i=1))), out=str(tmp_path / "out")
    )
    r = cli("worker", "--cluster", dask_processes["address"], "--until-empty")
    assert r.exit_code == 0, r.output
    assert (
        "cannot use FFmpeg" in r.output
        and f"1 at a time on dask {dask_processes['address']} (1 worker)" in r.output
    )
    assert (
        fenta.jobs.get(job_id)["job"]["status"] == "completed" and (tmp_path / "out" / "queued.mp4").is_file()
    )
    assert _job_types(fenta_home, job_id) == ["job.queued", "job.started", "job.completed"]
    assert cli("worker", "--cluster", "nonsense").exit_code == 2


def test_a_failed_ffmpeg_on_a_worker_says_its_log_is_on_that_worker(write, fenta_home, tmp_path, monkeypatch):
    from fenta.engine import remote
    from fenta.engine.executors.payload import build_payload
    from fenta.media import ffmpeg as ffm

    wrapper = tmp_path / "ffmpeg"  # the real FFmpeg, except that the render dies of SIGSEGV
    wrapper.write_text(
        f'#!/bin/sh\ncase "$*" in *-progress*) kill -SEGV $$;; esac\nexec "{ffm.ffmpeg_exe()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    job_id = fenta.submit(
        fenta.load(write("r.yaml", PLAIN_JOB.format(name="crash", i=1))), out=str(tmp_path / "out")
    )
    store = JobStore(fenta_home / "fenta.db")
    try:
        payload = build_payload(store.get_job(job_id), store, topic="", attempt=1)
    finally:
        store.close()
    monkeypatch.setenv("FENTA_FFMPEG", str(wrapper))
    ffm._locate.cache_clear()
    try:
        outcome = remote.run_job(payload)  # what a Dask worker runs, called here
    finally:
        monkeypatch.delenv("FENTA_FFMPEG")
        ffm._locate.cache_clear()
    assert not outcome["ok"] and outcome["error"].startswith(
        "node 'render': FFmpeg crashed (signal 11, SIGSEGV)"
    )
    assert "(log: " in outcome["error"] and outcome["error"].endswith(
        " (the log is on the Dask worker's disk)"
    )
