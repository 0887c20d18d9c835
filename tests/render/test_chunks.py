"""Long timelines render in chunks joined without re-encoding: the same frames, no frame lost or
doubled at a join."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render import chunks
from fenta.render.chunks import chunk_spans
from fenta.render.profile import Profile
from fenta.render.segments import segment_ranges
from fenta.render.timeline import Segment, Timeline, build_timeline
from fenta.types import Clip

from ._media import do_render, ff, streams, template, tone

FPS = 15
LOSSLESS = Profile(name="canvas", preset="ultrafast", crf=0)  # x264 CRF 0 is lossless: frames compare exactly


def _colour_montage(n: int, seconds: float = 0.6, transition: float = 0.0) -> Timeline:
    segs = []
    for i in range(n):
        start = i * seconds - (transition / 2 if i else 0)
        end = (i + 1) * seconds + (transition / 2 if i < n - 1 else 0)
        segs.append(
            Segment(
                kind="color",
                color=f"#{(i * 40) % 256:02x}{(i * 90) % 256:02x}80",
                start=start,
                duration=end - start,
            )
        )
    kind = "fade" if transition else "cut"
    return Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=n * seconds,
        segments=segs,
        transition={"type": kind, "seconds": transition},
        template=template(),
    )


@pytest.mark.parametrize("transition", [0.0, 0.2], ids=["cuts", "fades"])
def test_chunks_cover_the_video_once_with_few_segments_each_and_no_transition_cut_in_two(transition):
    tl = _colour_montage(30, transition=transition)
    ranges = segment_ranges(tl, FPS)
    spans = chunk_spans(tl, FPS, per_chunk=8)
    assert spans[0][0] == 0 and spans[-1][1] == round(tl.duration * FPS)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    overlaps = [(ranges[k][0], ranges[k - 1][1]) for k in range(1, len(ranges))]
    for lo, hi in spans:
        assert (
            sum(1 for a, b in ranges if a < hi and b > lo) <= 8 + 1
        )  # + the head of the next segment's transition
        assert not any(a < lo < b for a, b in overlaps), f"a join at frame {lo} inside a transition"
    assert len(spans) == 4


def test_a_short_timeline_is_one_chunk():
    tl = _colour_montage(chunks.CHUNK_SEGMENTS)
    assert chunk_spans(tl, FPS) == [(0, round(tl.duration * FPS))]


def _framemd5(path: Path) -> list[tuple[int, str]]:
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(",") for line in out.splitlines() if not line.startswith("#")]
    return [(int(r[2]), r[-1].strip()) for r in rows]


def _ass(path: Path, seconds: int) -> Path:
    events = "".join(
        f"Dialogue: 0,0:00:{i:02d}.20,0:00:{i:02d}.90,Default,,0,0,0,,word{i}\n" for i in range(seconds)
    )
    path.write_text(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: 180\nPlayResY: 320\n\n[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour,"
        " Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow,"
        " Alignment, MarginL, MarginR, MarginV, Encoding\n"
        "Style: Default,DejaVu Sans,24,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,"
        "-1,0,0,0,100,100,0,0,1,2,0,2,10,10,40,1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        + events,
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("kind", ["cut", "fade"])
def test_a_chunked_render_has_the_frames_of_one_render(kind, make_media, tmp_path, monkeypatch):
    # Clips, stills with Ken Burns, colour; captions, title card and progress bar: everything that goes
    # by the clock.
    a = make_media("a.mp4", "testsrc2=s=320x240:r=25:d=4", "-pix_fmt", "yuv420p")
    b = make_media("b.png", "smptebars=s=400x300:d=1", "-frames:v", "1")
    c = make_media("c.jpg", "mandelbrot=s=500x400", "-frames:v", "1")
    tpl = template(
        transition={"type": kind, "seconds": 0.4},
        pacing={"min_clip": 0.6, "max_clip": 0.8},
        progress_bar={"color": "#FFD400", "height": 10, "position": "top"},
        title_card={"seconds": 2.5},
    )
    clips = [
        Clip(kind="video", path=str(a), duration=4.0),
        Clip(kind="image", path=str(b)),
        Clip(kind="image", path=str(c)),
        Clip(kind="color", color="#336699"),
    ]
    ass = _ass(tmp_path / "s.ass", 10)
    tl = build_timeline(
        clips=clips,
        voice=tone(tmp_path / "v.wav", 10.0),
        template=tpl,
        subtitles=(str(ass), str(ass)),
        title="Chunks join without a seam",
    )
    assert len(tl.segments) > 10 and tl.title

    monkeypatch.setattr(chunks, "CHUNK_SEGMENTS", 1000)
    do_render(tl, tmp_path / "one.mp4", profile=LOSSLESS)
    monkeypatch.setattr(chunks, "CHUNK_SEGMENTS", 4)
    assert len(chunk_spans(tl, FPS)) >= 3
    do_render(tl, tmp_path / "chunked.mp4", profile=LOSSLESS)

    one, chunked = _framemd5(tmp_path / "one.mp4"), _framemd5(tmp_path / "chunked.mp4")
    assert len(chunked) == len(one) == round(10.0 * FPS)
    assert [t for t, _ in chunked] == list(range(len(chunked))), "a frame lost, doubled or mistimed at a join"
    assert [m for _, m in chunked] == [m for _, m in one]
    # The audio track is made once for the whole video: the same samples, in sync.
    audio = [
        ff("-v", "error", "-i", str(tmp_path / f), "-map", "0:a", "-f", "md5", "-").stdout
        for f in ("one.mp4", "chunked.mp4")
    ]
    assert audio[0] == audio[1]
    s = streams(tmp_path / "chunked.mp4")
    assert abs(s["audio_seconds"] - s["frames"] / FPS) <= 1 / FPS + 0.03
    # Same thumbnail (the keyframe it sits on is forced in the chunk holding it), same colour tags.
    assert (tmp_path / "one.jpg").read_bytes() == (tmp_path / "chunked.jpg").read_bytes()
    assert "yuv420p(tv, bt709, progressive)" in ff("-i", str(tmp_path / "chunked.mp4")).stderr


def test_a_chunked_lossy_render_plays_through_its_joins(tmp_path, monkeypatch):
    # The default settings (x264 veryfast CRF 23): each chunk starts on a keyframe and the joined
    # stream decodes without an error, frame after frame on the 1/fps grid.
    monkeypatch.setattr(chunks, "CHUNK_SEGMENTS", 3)
    tl = _colour_montage(10, transition=0.2)
    tl = tl.model_copy(update={"voice": tone(tmp_path / "v.wav", tl.duration)})
    do_render(tl, tmp_path / "o.mp4", profile=Profile(name="canvas"), thumb=False)
    frames = _framemd5(tmp_path / "o.mp4")
    assert [t for t, _ in frames] == list(range(round(tl.duration * FPS)))
    decode = ff("-v", "error", "-i", str(tmp_path / "o.mp4"), "-f", "null", "-")
    assert decode.returncode == 0 and not decode.stderr.strip()
    keyframes = ff(
        "-v",
        "error",
        "-skip_frame",
        "nokey",
        "-i",
        str(tmp_path / "o.mp4"),
        "-map",
        "0:v",
        "-f",
        "framemd5",
        "-",
    ).stdout
    key_times = [int(line.split(",")[2]) for line in keyframes.splitlines() if not line.startswith("#")]
    starts = [lo for lo, _ in chunk_spans(tl, FPS)]
    assert set(starts) <= set(key_times)


def test_a_chunked_render_leaves_no_pieces_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_SEGMENTS", 2)
    tl = _colour_montage(5)
    do_render(tl, tmp_path / "out" / "o.mp4", thumb=False)
    left = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert left == ["o.mp4"]
    assert not re.search(r"chunk", " ".join(p.name for p in (tmp_path / "out").rglob("*")))
