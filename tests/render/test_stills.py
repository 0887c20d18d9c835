"""Large stills are scaled to their slot before the render: same frames, far less held in memory."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

import fenta.render.stills as stills
from fenta.errors import MediaError
from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render.compose import build_command
from fenta.render.frames import still_args
from fenta.render.profile import Profile
from fenta.render.timeline import Segment, Timeline

from ._media import do_render, template

W, H, FPS = 180, 320, 10


def still_timeline(*paths: Path, zoom=(1.0, 1.2)) -> Timeline:
    segs = [
        Segment(kind="image", path=str(p), start=i * 1.0, duration=1.0, zoom=zoom)
        for i, p in enumerate(paths)
    ]
    return Timeline(
        canvas={"width": W, "height": H, "fps": FPS},
        duration=float(len(paths)),
        segments=segs,
        template=template(),
    )


def video_frames_md5(path: Path) -> list[str]:
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.rsplit(",", 1)[-1].strip() for line in out.splitlines() if not line.startswith("#")]


def test_a_large_still_gives_the_same_frames_prepared_or_scaled_in_the_graph(
    make_media, tmp_path, monkeypatch
):
    big = make_media("big.jpg", "testsrc2=s=1600x1200:d=1", "-frames:v", "1")
    tl = still_timeline(big)
    profile = Profile(name="canvas", preset="ultrafast")
    do_render(tl, tmp_path / "prepared.mp4", profile=profile, thumb=False)
    monkeypatch.setattr(stills, "PREPARE_ABOVE", float("inf"))
    do_render(tl, tmp_path / "in_graph.mp4", profile=profile, thumb=False)
    assert video_frames_md5(tmp_path / "prepared.mp4") == video_frames_md5(tmp_path / "in_graph.mp4")


def test_only_single_stills_far_larger_than_their_slot_are_prepared(make_media, tmp_path):
    big = make_media("big.png", "testsrc2=s=1600x1200:d=1", "-frames:v", "1")
    small = make_media("small.png", "testsrc2=s=300x400:d=1", "-frames:v", "1")
    gif = make_media("anim.gif", "testsrc2=s=1600x1200:r=5:d=0.6")
    slots = [
        (str(big), 216, 384),
        (str(small), 216, 384),
        (str(gif), 216, 384),
        (str(tmp_path / "gone.jpg"), 216, 384),
        (str(big), 216, 384),
    ]
    assert stills.slots_to_prepare(slots) == [(str(big), 216, 384)]


def test_the_render_reads_the_prepared_frame_instead_of_the_large_still(make_media, tmp_path):
    big = make_media("big.jpg", "testsrc2=s=1600x1200:d=1", "-frames:v", "1")
    tl = still_timeline(big)
    slot = (str(big), 216, 384)  # 180x320 at zoom 1.2
    args = build_command(
        tl,
        tmp_path / "o.mp4",
        None,
        profile=Profile(name="canvas"),
        textdir=tmp_path,
        prepared_stills={slot: tmp_path / "still0.nut"},
    )
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    assert "file:" + str(tmp_path / "still0.nut") in inputs
    assert not [i for i in inputs if "big.jpg" in i]


def test_large_stills_at_awkward_paths_are_prepared_and_rendered(make_media, tmp_path):
    odd = tmp_path / "we'ird, [dir]; 100%: Привет"
    odd.mkdir()
    big = make_media("big.jpg", "testsrc2=s=1600x1200:d=1", "-frames:v", "1").rename(odd / "a:b,c'd%e.jpg")
    assert stills.slots_to_prepare([(str(big), 216, 384)])
    info = do_render(still_timeline(big), odd / "out.mp4", profile=Profile(name="canvas", preset="ultrafast"))
    assert info.has_video and info.width == W


def test_a_large_still_that_cannot_be_decoded_fails_naming_it_and_leaves_nothing_behind(make_media, tmp_path):
    good = make_media("good.jpg", "testsrc2=s=1600x1200:d=1", "-frames:v", "1").read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(good[: good.find(b"\xff\xda")])  # a whole header, no picture data
    assert stills.slots_to_prepare([(str(bad), 216, 384)])
    out = tmp_path / "out" / "o.mp4"
    with pytest.raises(MediaError) as e:
        do_render(still_timeline(bad), out)
    assert "cut.jpg" in str(e.value)
    assert not [p for p in out.parent.iterdir() if p.is_file()]


def test_preparing_a_still_that_cannot_be_decoded_names_it(make_media, tmp_path):
    good = make_media("good.jpg", "testsrc2=s=1600x1200:d=1", "-frames:v", "1").read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(good[: good.find(b"\xff\xda")])
    with pytest.raises(MediaError) as e:
        asyncio.run(stills.prepare_stills([(str(bad), 216, 384)], tmp_path / "wd", still_args))
    assert "cut.jpg" in str(e.value) and "cannot decode this image (Invalid data" in str(e.value)


def test_stills_are_prepared_as_many_at_once_as_there_are_cores(make_media, tmp_path, monkeypatch):
    import fenta.render.stills as module

    running, peak = 0, 0

    async def fake_run(args, **kw):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        Path(args[-1]).write_bytes(b"")
        running -= 1

    monkeypatch.setattr(module, "run_ffmpeg", fake_run)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)
    big = make_media("big.png", "testsrc2=s=1600x1200:d=1", "-frames:v", "1")
    slots = [(str(big), 216 + 2 * i, 384) for i in range(5)]
    done = asyncio.run(module.prepare_stills(slots, tmp_path / "wd", still_args))
    assert len(done) == 5 and peak == 2
