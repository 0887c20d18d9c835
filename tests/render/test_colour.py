"""Output colour: limited-range BT.709 whatever the sources declare, with their colours kept."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fenta.media.ffmpeg import ffmpeg_exe
from fenta.media.probe import probe
from fenta.render.profile import Profile
from fenta.render.timeline import Segment, Timeline

from ._media import do_render, ff, template

FPS = 10
W, H = 180, 320
#: Pure red in limited-range YCbCr: (Y, Cb, Cr) under each matrix.
RED_709 = (63, 102, 240)
RED_601 = (81, 90, 240)


def yuv_at(path: Path, x: int, y: int, at: float = 0.3) -> tuple[int, int, int]:
    """Y, Cb, Cr of one pixel, read from the decoded planes without any conversion."""
    w, h = probe(path).width, probe(path).height
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-ss",
            str(at),
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    u0, v0 = w * h, w * h + (w // 2) * (h // 2)
    return raw[y * w + x], raw[u0 + (y // 2) * (w // 2) + x // 2], raw[v0 + (y // 2) * (w // 2) + x // 2]


def render_one(tmp_path: Path, path: Path, kind: str) -> Path:
    tl = Timeline(
        canvas={"width": W, "height": H, "fps": FPS},
        duration=1.0,
        segments=[Segment(kind=kind, path=str(path), start=0, duration=1.0)],
        template=template(),
    )
    out = tmp_path / "o.mp4"
    do_render(tl, out, profile=Profile(name="canvas", preset="ultrafast", crf=10))
    return out


def assert_close(got, want, tol=3):
    assert all(abs(g - w) <= tol for g, w in zip(got, want)), f"{got} is not {want}"


def test_a_full_range_jpeg_still_gives_a_limited_range_bt709_video(make_media, tmp_path):
    jpg = make_media("red.jpg", "color=c=red:s=320x240:d=1", "-frames:v", "1", "-q:v", "2")
    assert "yuvj420p(pc" in ff("-i", str(jpg)).stderr  # the premise: FFmpeg writes full-range JPEGs
    out = render_one(tmp_path, jpg, "image")
    assert "yuv420p(tv, bt709, progressive)" in ff("-i", str(out)).stderr
    assert_close(yuv_at(out, W // 2, 40), RED_709)


def test_an_rgb_png_still_is_converted_to_bt709(make_media, tmp_path):
    png = make_media("red.png", "color=c=red:s=320x240:d=1", "-frames:v", "1")
    assert_close(yuv_at(render_one(tmp_path, png, "image"), W // 2, 40), RED_709)


def test_an_untagged_hd_clip_is_taken_as_bt709_and_its_pixels_kept(make_media, tmp_path):
    clip = make_media(
        "hd.mp4", "color=c=red:s=1280x720:r=10:d=1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-crf", "10"
    )
    assert probe(clip).color_matrix is None
    source = yuv_at(clip, 640, 360)
    assert_close(yuv_at(render_one(tmp_path, clip, "video"), W // 2, H // 2), source)


@pytest.mark.parametrize("tag", [None, "smpte170m"])
def test_an_sd_or_bt601_clip_is_converted_to_bt709(tag, make_media, tmp_path):
    extra = ["-colorspace", tag] if tag else []
    clip = make_media(
        "sd.mp4",
        "color=c=red:s=320x240:r=10:d=1",
        "-vf",
        "scale=out_color_matrix=bt601:out_range=tv",
        "-pix_fmt",
        "yuv420p",
        *extra,
        "-c:v",
        "libx264",
        "-crf",
        "10",
    )
    assert_close(yuv_at(clip, 160, 120), RED_601)
    assert_close(yuv_at(render_one(tmp_path, clip, "video"), W // 2, H // 2), RED_709)


def test_the_thumbnail_keeps_the_video_colours(make_media, tmp_path):
    png = make_media("red.png", "color=c=red:s=320x240:d=1", "-frames:v", "1")
    render_one(tmp_path, png, "image")
    rgb = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(tmp_path / "o.jpg"),
            "-vf",
            "crop=8:8",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert_close(tuple(rgb[:3]), (255, 0, 0), tol=8)


@pytest.mark.parametrize("opacity", [1.0, 0.5])
def test_a_logo_image_keeps_its_colour_over_the_video(opacity, make_media, tmp_path):
    logo = make_media("logo.png", "color=c=red:s=64x64:d=1", "-frames:v", "1")
    tpl = template(
        logo={"path": str(logo), "position": "top-left", "width": 0.5, "opacity": opacity},
        safe_zone={"top": 0.1, "bottom": 0.1, "left": 0.1, "right": 0.1},
    )
    tl = Timeline(
        canvas={"width": W, "height": H, "fps": FPS},
        duration=1.0,
        segments=[Segment(kind="color", color="#000000", start=0, duration=1.0)],
        template=tpl,
    )
    out = tmp_path / "o.mp4"
    do_render(tl, out, profile=Profile(name="canvas", preset="ultrafast", crf=10))
    black = (16, 128, 128)
    want = tuple(round(b + (r - b) * opacity) for r, b in zip(RED_709, black))
    assert_close(yuv_at(out, 18 + 20, 32 + 20), want, tol=4)
