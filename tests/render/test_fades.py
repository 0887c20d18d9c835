"""Fades are blended in 4:2:0 (overlay with a rising alpha): xfade's look, without its 4:4:4 round trip."""

from __future__ import annotations

import subprocess

from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render import compose
from fenta.render.compose import Profile, build_command
from fenta.render.timeline import Segment, Timeline

from ._media import template

W, H, FPS = 180, 320, 15


def _two_pictures(make_media, kind: str = "fade") -> Timeline:
    a = make_media("a.png", "testsrc2=s=180x320:d=1", "-frames:v", "1")
    b = make_media("b.png", "mandelbrot=s=180x320", "-frames:v", "1")
    segs = [Segment(kind="image", path=str(a), start=0, duration=1.2), Segment(kind="image", path=str(b), start=0.8, duration=1.2)]
    return Timeline(canvas={"width": W, "height": H, "fps": FPS}, duration=2.0, segments=segs, transition={"type": kind, "seconds": 0.4}, template=template())


def _frames(tl: Timeline, tmp_path, name: str) -> list[bytes]:
    raw = tmp_path / f"{name}.yuv"
    args = build_command(tl, tmp_path / "unused.mp4", None, profile=Profile(name="canvas"), textdir=tmp_path, raw_video=raw)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)
    data, size = raw.read_bytes(), W * H * 3 // 2
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_fade_has_xfades_brightness_within_rounding_and_keeps_each_pictures_colour(make_media, tmp_path, monkeypatch):
    tl = _two_pictures(make_media)
    monkeypatch.setattr(compose, "FADE_IN_420", False)
    xfade = _frames(tl, tmp_path, "xfade")
    monkeypatch.setattr(compose, "FADE_IN_420", True)
    blended = _frames(tl, tmp_path, "blended")
    assert len(blended) == len(xfade) == 30
    for k, (x, b) in enumerate(zip(xfade, blended)):
        luma = max(abs(p - q) for p, q in zip(x[: W * H], b[: W * H]))
        assert luma <= 1, f"frame {k}: luma off by {luma}"
    # Outside the 6 blended frames both are the pictures themselves, bit for bit.
    assert [x == b for x, b in zip(xfade, blended)] == [True] * 12 + [False] * 6 + [True] * 12
    # The blend's first frame is the outgoing picture exactly, colour planes included
    # (xfade's 4:4:4 round trip changed them).
    assert blended[12][W * H :] == blended[11][W * H :]


def test_a_fade_puts_no_scaler_to_444_into_the_graph(make_media, tmp_path):
    tl = _two_pictures(make_media)
    args = build_command(tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), textdir=tmp_path, raw_video=tmp_path / "o.yuv")
    r = subprocess.run([ffmpeg_exe(), "-v", "verbose", "-y", *args], capture_output=True, text=True, errors="replace")
    conversions = [line for line in r.stderr.splitlines() if "auto_scale" in line and "->" in line]
    assert not any("yuv444p" in line for line in conversions), conversions
    assert "xfade" not in args[args.index("-filter_complex") + 1]


def test_other_transitions_keep_xfade(make_media, tmp_path):
    tl = _two_pictures(make_media, "wipeleft")
    args = build_command(tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), textdir=tmp_path)
    assert "xfade=" in args[args.index("-filter_complex") + 1]
