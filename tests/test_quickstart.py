"""The quickstart, end to end, as a new user runs it: no keys, real FFmpeg, a real video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pysubs2
import pytest

from fenta.media.probe import probe
from tests.conftest import REPO


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qs")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["FENTA_HOME"] = str(tmp / "home")
    cmd = [
        sys.executable,
        "-m",
        "fenta",
        "run",
        str(REPO / "examples" / "quickstart.yaml"),
        "-o",
        str(tmp / "out"),
        "--json",
    ]
    t0 = time.perf_counter()
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=600)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=600)
    second_s = time.perf_counter() - t0
    show = subprocess.run(
        [sys.executable, "-m", "fenta", "jobs", "show", json.loads(first.stdout)["job_id"], "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
    )
    return {
        "first": first,
        "second": second,
        "first_s": first_s,
        "second_s": second_s,
        "out": tmp / "out",
        "show": json.loads(show.stdout),
    }


def test_the_quickstart_renders_a_vertical_video_with_voice(quickstart):
    assert quickstart["first"].returncode == 0, quickstart["first"].stderr
    result = json.loads(quickstart["first"].stdout)
    info = probe(result["video"])
    assert (info.width, info.height) == (1080, 1920)
    assert info.has_video and info.has_audio


def test_the_video_lasts_as_long_as_the_narration(quickstart):
    result = json.loads(quickstart["first"].stdout)
    voice = next(n for n in quickstart["show"]["nodes"] if n["node_id"] == "voice")
    narration = voice["output"]["audio"]["duration"]
    assert 20 <= narration <= 40
    assert abs(probe(result["video"]).duration - narration) <= 0.2


def test_the_quickstart_writes_word_timed_subtitles_and_a_thumbnail(quickstart):
    arts = json.loads(quickstart["first"].stdout)["artifacts"]
    srt = pysubs2.load(arts["srt"])
    words = " ".join(e.plaintext for e in srt).split()
    assert len(srt) >= 10 and "octopuses" in [w.lower() for w in words]
    assert all(a.end <= b.start for a, b in zip(srt, srt[1:]))
    assert probe(arts["thumbnail"]).is_still


def test_an_unchanged_rerun_is_all_cache_hits_and_fast(quickstart):
    second = json.loads(quickstart["second"].stdout)
    assert set(second["nodes"].values()) == {"cached"}
    assert quickstart["second_s"] < 5.0
