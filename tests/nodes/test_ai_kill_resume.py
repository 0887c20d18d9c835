"""kill -9 during each kind of KIE poll, then `fenta resume`: the job continues the same task ids and the fake
sees exactly one create per task (and one accepted 4K request) - nothing is ever paid twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import REPO
from tests.fakes.kie import FAST_ENV, HD_PATH, UHD_PATH, FakeKie, fake_kie  # noqa: F401  (fixture)

HEAD = """
version: 1
name: killed
template: karaoke-bold
overrides: {canvas: {width: 180, height: 320, fps: 15}}
nodes:
"""


def _task(fake: FakeKie, *, child: bool = False) -> str | None:
    found = [t.task_id for t in fake.tasks.values() if bool(t.parent) is child]
    return found[0] if found else None


def _polled(fake: FakeKie, *, child: bool = False) -> bool:
    tid = _task(fake, child=child)
    return tid is not None and len(fake.polls_of(tid)) >= 2


def _finish(fake: FakeKie, *, child: bool = False) -> None:
    fake.finish(_task(fake, child=child) or "")


@dataclass
class Kind:
    nodes: str
    setup: Callable[[FakeKie], None]
    polling: Callable[[FakeKie], bool]  # the run is in the poll this case is about
    release: Callable[[FakeKie], None]
    creates: dict[str, int]  # create path part -> creates the fake must have seen in all


def _never(fake: FakeKie) -> None:
    fake.next_outcomes = ["never"]


KINDS = {
    "market": Kind(
        "  gen: {type: AI.Image, params: {model: flux-2/pro-text-to-image, prompt: a fox}}",
        _never,
        _polled,
        _finish,
        {"/jobs/createTask": 1},
    ),
    "veo": Kind(
        "  gen: {type: AI.Video, params: {model: veo3_fast, prompt: waves}}",
        _never,
        _polled,
        _finish,
        {"/veo/generate": 1},
    ),
    "veo-extend": Kind(
        "  gen: {type: AI.Video, params: {model: veo3_fast, prompt: waves, extend: 1}}",
        lambda f: setattr(f, "next_outcomes", ["success", "never"]),
        lambda f: _polled(f, child=True),
        lambda f: _finish(f, child=True),
        {"/veo/generate": 1, "/veo/extend": 1},
    ),
    "veo-1080p": Kind(
        "  gen: {type: AI.Video, params: {model: veo3_fast, prompt: waves, resolution: 1080p}}",
        lambda f: setattr(f, "hd_processing", 10**6),
        lambda f: bool(_task(f)) and len(f.asks_of(HD_PATH, _task(f))) >= 2,
        lambda f: setattr(f, "hd_processing", 0),
        {"/veo/generate": 1},
    ),
    "veo-4k": Kind(
        "  gen: {type: AI.Video, params: {model: veo3_fast, prompt: waves, resolution: 4k}}",
        lambda f: setattr(f, "uhd_polls", 10**6),
        lambda f: bool(_task(f)) and len(f.asks_of(UHD_PATH, _task(f))) >= 3,
        lambda f: setattr(f, "uhd_polls", 0),
        {"/veo/generate": 1},
    ),
    "suno": Kind(
        "  bed: {type: Music.Gen, params: {prompt: calm piano, seconds: 5}}",
        _never,
        _polled,
        _finish,
        {"/api/v1/generate": 1},
    ),
    "kontext-edit": Kind(
        "  photo: {type: Input.Asset, params: {paths: [photo.png]}}\n"
        "  edit: {type: AI.ImageEdit, params: {operation: outpaint}, inputs: {image: photo.clips}}",
        _never,
        _polled,
        _finish,
        {"/flux/kontext/generate": 1},
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_run_killed_during_each_kind_of_poll_resumes_it_and_pays_once(
    fake_kie, write, fenta_home, cli, make_media, kind
):
    case = KINDS[kind]
    make_media("photo.png", "color=c=orange:s=160x90", "-frames:v", "1")
    case.setup(fake_kie)
    wf = write("wf.yaml", HEAD + case.nodes + "\n")
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not case.polling(fake_kie) and proc.poll() is None:
            time.sleep(0.05)
        assert case.polling(fake_kie), (
            proc.stderr.read().decode() if proc.poll() is not None else "never polled"
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    case.release(fake_kie)
    jobs = json.loads(cli("jobs", "--json").stdout)
    (job,) = jobs
    result = cli("resume", job["id"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    for path, n in case.creates.items():
        assert len(fake_kie.creates_to(path)) == n, (path, [r.path for r in fake_kie.creates])
    assert len(fake_kie.creates) == sum(case.creates.values())
    assert fake_kie.uhd_accepted == (1 if kind == "veo-4k" else 0)
    assert fake_kie.upload_requests == (1 if kind == "kontext-edit" else 0)
