"""One-pass render: sizes per profile, durations and A/V sync, loudness, captions, escaping, ducking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fenta.render.profile import Profile, output_size
from fenta.render.timeline import MusicBed, Segment, Timeline

from ._media import black_intervals, clip, do_render, ff, gray_frame, loudness, streams, template, tone

FPS = 15
SMALL_CANVAS = {"width": 180, "height": 320, "fps": FPS}


@pytest.mark.parametrize(
    "canvas,profile,size",
    [
        ((1080, 1920), "1080p", (1080, 1920)),
        ((1080, 1920), "720p", (720, 1280)),
        ((1920, 1080), "1080p", (1920, 1080)),
        ((1920, 1080), "720p", (1280, 720)),
        ((1080, 1080), "1080p", (1080, 1080)),
        ((1080, 1080), "720p", (720, 720)),
        ((1080, 1920), "preview", (360, 640)),
    ],
)
def test_profiles_give_the_template_aspect_at_the_profile_short_side(canvas, profile, size):
    assert output_size({"width": canvas[0], "height": canvas[1]}, profile) == size


def test_720p_square_render_has_that_frame_size_and_h264_yuv420p_aac(make_media, tmp_path):
    img = make_media("a.png", "testsrc2=s=300x200:d=1", "-frames:v", "1")
    tl = Timeline(
        canvas={"width": 1080, "height": 1080, "fps": FPS},
        duration=1.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=1.0)],
        template=template("square"),
    )
    do_render(tl, tmp_path / "o.mp4", profile=Profile(name="720p", preset="ultrafast"))
    r = ff("-i", str(tmp_path / "o.mp4"))
    assert (
        "720x720" in r.stderr and "h264" in r.stderr and "yuv420p(tv, bt709" in r.stderr and "aac" in r.stderr
    )


@pytest.mark.parametrize("kind", ["cut", "fade", "wipeleft", "slideup"])
def test_transitions_keep_audio_and_video_within_one_frame(kind, make_media, tmp_path):
    a = make_media("a.mp4", "testsrc2=s=320x240:r=25:d=3", "-pix_fmt", "yuv420p")
    b = make_media("b.png", "smptebars=s=400x300:d=1", "-frames:v", "1")
    tpl = template(transition={"type": kind, "seconds": 0.4}, pacing={"min_clip": 1.0, "max_clip": 1.5})
    from fenta.render.timeline import build_timeline

    tl = build_timeline(
        clips=[clip(a, duration=3.0), clip(b, "image")], voice=tone(tmp_path / "v.wav", 3.3), template=tpl
    )
    assert tl.transition["type"] == kind
    do_render(tl, tmp_path / "o.mp4")
    s = streams(tmp_path / "o.mp4")
    assert s["frames"] == round(3.3 * FPS)
    assert abs(s["audio_seconds"] - s["frames"] / FPS) <= 1 / FPS + 0.03


def test_loudness_lands_within_one_lu_of_the_template_target(tmp_path, make_media):
    from fenta.render.timeline import build_timeline

    music = make_media("m.wav", "aevalsrc=0.3*sin(2*PI*220*t)|0.3*sin(2*PI*330*t):s=44100:d=2")
    tpl = template(loudness=-16)
    tl = build_timeline(
        clips=[],
        voice=tone(tmp_path / "v.wav", 6.0, volume=0.2),
        template=tpl,
        music=MusicBed(path=str(music), duration=2.0),
    )
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    assert abs(loudness(tmp_path / "o.mp4") - (-16)) <= 1.0


def test_music_is_ducked_under_speech(tmp_path, make_media):
    from fenta.render.timeline import build_timeline

    # Voice only in the first half: the music must be louder in the second half.
    voice = tmp_path / "v.wav"
    ff(
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "aevalsrc=0.5*sin(2*PI*300*t)*lt(t\\,3):s=44100:d=6",
        str(voice),
    )
    music = make_media("m.wav", "aevalsrc=0.5*sin(2*PI*1000*t):s=44100:d=6")
    tpl = template(music={"level_db": -6, "ducking": True, "duck_ratio": 20, "fade_out": 0})
    tl = build_timeline(
        clips=[],
        voice=__import__("fenta.types", fromlist=["Audio"]).Audio(path=str(voice), duration=6.0),
        template=tpl,
        music=MusicBed(path=str(music), duration=6.0),
    )
    tl.loudness = -20
    do_render(tl, tmp_path / "o.mp4", thumb=False)

    # Isolate the music (1 kHz) with a band-pass and compare its level with and without the voice.
    def music_level(start):
        r = ff(
            "-ss",
            str(start),
            "-t",
            "2",
            "-i",
            str(tmp_path / "o.mp4"),
            "-af",
            "bandpass=f=1000:width_type=q:w=8,volumedetect",
            "-f",
            "null",
            "-",
        )
        return float(r.stderr.split("mean_volume:")[1].split("dB")[0])

    assert music_level(3.6) - music_level(0.5) >= 6


def test_music_shorter_than_the_video_is_looped(tmp_path, make_media):
    from fenta.render.timeline import build_timeline

    music = make_media("m.wav", "aevalsrc=0.5*sin(2*PI*440*t):s=44100:d=1")
    tl = build_timeline(
        clips=[],
        voice=None,
        duration=4.0,
        template=template(music={"fade_out": 0}),
        music=MusicBed(path=str(music), duration=1.0),
    )
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    assert loudness(tmp_path / "o.mp4", 2.5, 4.0) > -30


def test_a_cut_montage_has_no_black_frames(make_media, tmp_path):
    from fenta.render.timeline import build_timeline

    a = make_media(
        "a.mp4", "testsrc2=s=320x240:r=30:d=1", "-pix_fmt", "yuv420p"
    )  # shorter than its slot: looped
    b = make_media("b.jpg", "smptebars=s=640x200:d=1", "-frames:v", "1")  # very wide still
    c = make_media("c.png", "testsrc=s=100x400:d=1", "-frames:v", "1")  # very tall still
    tl = build_timeline(
        clips=[clip(a, duration=1.0), clip(b, "image"), clip(c, "image")],
        voice=tone(tmp_path / "v.wav", 6.0),
        template=template(pacing={"min_clip": 2, "max_clip": 2}),
    )
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    assert black_intervals(tmp_path / "o.mp4") == []


def test_every_source_covers_the_frame_without_bars(make_media, tmp_path):
    img = make_media("wide.png", "color=c=white:s=640x100:d=1", "-frames:v", "1")
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=1.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=1.0, zoom=(1.0, 1.1))],
        template=template(),
    )
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    w, h, data = gray_frame(tmp_path / "o.mp4", 0.5)
    rows = [data[y * w : (y + 1) * w] for y in (0, 2, h // 2, h - 3, h - 1)]
    assert all(min(r) > 200 for r in rows), "top/bottom rows must be picture, not bars"


def test_captions_are_burned_in_where_the_ass_file_puts_them(tmp_path, make_media):
    from fenta.render.captions import write_captions
    from fenta.types import Word

    tpl = template(subtitles={"position": "center"})
    ass, srt = tmp_path / "c.ass", tmp_path / "c.srt"
    write_captions([Word(text="HELLO", start=1.0, end=2.0)], tpl, ass, srt)
    tl = Timeline(
        canvas=tpl["canvas"],
        duration=3.0,
        segments=[Segment(kind="color", color="#203040", start=0, duration=3.0)],
        subtitles_ass=str(ass),
        template=tpl,
    )
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    w, h, before = gray_frame(tmp_path / "o.mp4", 0.5)
    _, _, during = gray_frame(tmp_path / "o.mp4", 1.5)
    centre = slice((h // 2 - 20) * w, (h // 2 + 20) * w)
    diff = sum(abs(a - b) > 40 for a, b in zip(before[centre], during[centre]))
    assert diff > 100


ESCAPING_CORPUS = "It's \"quoted\": a, b; c [x] {y} back\\slash 100% %{pts} $HOME — Привет 🎬 :'\\,;"


def test_titles_with_every_special_character_render_literally(tmp_path, make_media):
    tpl = template(title_card={"seconds": 2.0, "size": 20}, logo={"text": ESCAPING_CORPUS, "size": 14})
    tl = Timeline(
        canvas=tpl["canvas"],
        duration=1.0,
        segments=[Segment(kind="color", color="#102030", start=0, duration=1.0)],
        title=ESCAPING_CORPUS,
        template=tpl,
    )
    info = do_render(tl, tmp_path / "o.mp4", thumb=False)
    assert info.has_video
    _, _, plain = gray_frame(tmp_path / "o.mp4", 0.5)
    assert max(plain) > 150, "the title text is drawn"


def test_paths_with_special_characters_work_as_inputs(tmp_path, make_media):
    odd = tmp_path / "we'ird, [dir]; 100%: Привет"
    odd.mkdir()
    img = make_media("x.png", "testsrc2=s=200x200:d=1", "-frames:v", "1")
    target = odd / "a:b,c'd%e.png"
    img.rename(target)
    from fenta.render.captions import write_captions
    from fenta.types import Word

    tpl = template()
    ass = odd / "c'a,p:t.ass"
    write_captions([Word(text="ok", start=0.1, end=0.8)], tpl, ass, odd / "c.srt")
    voice = tone(odd / "v[1]; '%'.wav", 1.0)
    tl = Timeline(
        canvas=tpl["canvas"],
        duration=1.0,
        segments=[Segment(kind="image", path=str(target), start=0, duration=1.0)],
        voice=voice,
        subtitles_ass=str(ass),
        template=tpl,
    )
    info = do_render(tl, odd / "out.mp4")
    assert info.has_video and (odd / "out.jpg").exists()


def test_timeline_json_round_trips(tmp_path, make_media):
    img = make_media("a.png", "testsrc2=s=200x200:d=1", "-frames:v", "1")
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=1.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=1.0)],
        template=template(),
    )
    again = Timeline.model_validate(json.loads(json.dumps(tl.model_dump(mode="json"))))
    assert again == tl


def test_the_same_still_and_colour_can_fill_several_slots(make_media, tmp_path):
    from fenta.render.timeline import build_timeline
    from fenta.types import Clip

    img = make_media("a.png", "testsrc2=s=200x200:d=1", "-frames:v", "1")
    tl = build_timeline(
        clips=[clip(img, "image"), Clip(kind="color", color="#336699")],
        voice=None,
        duration=4.0,
        template=template(pacing={"min_clip": 1, "max_clip": 1}),
    )
    assert len(tl.segments) == 4
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    assert streams(tmp_path / "o.mp4")["frames"] == 4 * FPS


def test_audio_in_its_own_filter_graph_renders_the_same_length(make_media, tmp_path, monkeypatch):
    import fenta.render.compose as compose

    monkeypatch.setattr(compose, "SEPARATE_AUDIO_GRAPH", True)
    img = make_media("a.png", "testsrc2=s=200x200:d=1", "-frames:v", "1")
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=2.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=2.0)],
        voice=tone(tmp_path / "v.wav", 2.0),
        template=template(),
    )
    args = compose.build_command(
        tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas", preset="ultrafast")
    )
    assert args.count("-filter_complex") == 2
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    s = streams(tmp_path / "o.mp4")
    assert s["frames"] == 2 * FPS and abs(s["audio_seconds"] - 2.0) <= 1 / FPS + 0.03


def test_the_loudness_pass_gives_the_gain_to_the_target_and_nothing_for_silence(tmp_path):
    import asyncio

    from fenta.render.audio import measure_loudness
    from fenta.render.timeline import build_timeline

    voiced = build_timeline(
        clips=[], voice=tone(tmp_path / "v.wav", 4.0, volume=0.1), template=template(loudness=-14)
    )
    gain = asyncio.run(measure_loudness(voiced, {}))
    assert gain is not None and gain > 3  # a quiet tone needs boosting to reach -14 LUFS
    silent = build_timeline(clips=[], voice=None, template=template(), duration=2.0)
    assert asyncio.run(measure_loudness(silent, {})) is None


def test_a_measured_render_lands_close_to_the_target(tmp_path):
    from fenta.render.timeline import build_timeline

    tl = build_timeline(
        clips=[], voice=tone(tmp_path / "v.wav", 5.0, volume=0.05), template=template(loudness=-14)
    )
    do_render(tl, tmp_path / "o.mp4", thumb=False)
    assert abs(loudness(tmp_path / "o.mp4") - (-14)) <= 0.7


def test_a_video_clip_used_in_several_slots_gets_one_decoder_per_slot(tmp_path):
    # A decoder shared by several slots fans every frame out to all of them, and the later slots
    # queue the whole clip in memory: 3 GB for eight 5 s slots at 1080x1920 before this was fixed.
    from fenta.render import compose

    c = tmp_path / "c.mp4"
    ff("-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-pix_fmt", "yuv420p", str(c))
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": 15},
        duration=3.0,
        segments=[Segment(kind="video", path=str(c), start=float(i), duration=1.0) for i in range(3)],
        template=template(),
    )
    args = compose.build_command(
        tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas", preset="ultrafast")
    )
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    assert sum(1 for p in inputs if p.endswith("c.mp4")) == 3


def test_a_render_whose_ffmpeg_crashes_once_is_rendered_again_with_a_notice(tmp_path, monkeypatch, caplog):
    import os

    from fenta.media import ffmpeg as ffm
    from fenta.render.timeline import build_timeline

    flag = _crashing_ffmpeg(tmp_path, monkeypatch, times="once")
    try:
        tl = build_timeline(clips=[], voice=tone(tmp_path / "v.wav", 1.0), template=template(), duration=1.0)
        with caplog.at_level("WARNING", logger="fenta"):
            info = do_render(tl, tmp_path / "o.mp4", thumb=False)
    finally:
        monkeypatch.delenv("FENTA_FFMPEG")
        ffm._locate.cache_clear()
    assert flag.exists() and info.has_video and os.path.exists(tmp_path / "o.mp4")
    assert any(
        "FFmpeg crashed (signal 11, SIGSEGV)" in r.getMessage() and "rendering once more" in r.getMessage()
        for r in caplog.records
    )


def _crashing_ffmpeg(tmp_path, monkeypatch, *, times: str) -> Path:
    """FENTA_FFMPEG: the real FFmpeg, except that render calls die of SIGSEGV (`times`: once | always)."""
    import stat

    from fenta.media import ffmpeg as ffm

    flag = tmp_path / "crashed"
    crash = (
        f'if [ ! -e "{flag}" ]; then touch "{flag}"; kill -SEGV $$; fi'
        if times == "once"
        else 'echo "  Metadata: encoder Lavf" >&2; kill -SEGV $$'
    )
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f"""#!/bin/sh
case "$*" in *-progress*) {crash};; esac
exec "{ffm.ffmpeg_exe()}" "$@"
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FENTA_FFMPEG", str(wrapper))
    ffm._locate.cache_clear()
    return flag


def test_a_crashing_ffmpeg_is_reported_as_a_crash_with_its_log_and_leaves_no_files(
    tmp_path, monkeypatch, fenta_home
):
    from fenta.errors import RenderError
    from fenta.media import ffmpeg as ffm
    from fenta.render.timeline import build_timeline

    _crashing_ffmpeg(tmp_path, monkeypatch, times="always")
    try:
        tl = build_timeline(clips=[], voice=tone(tmp_path / "v.wav", 1.0), template=template(), duration=1.0)
        with pytest.raises(RenderError) as caught:
            do_render(tl, tmp_path / "out" / "o.mp4")
    finally:
        monkeypatch.delenv("FENTA_FFMPEG")
        ffm._locate.cache_clear()
    err = caught.value
    assert str(err).startswith("FFmpeg crashed (signal 11, SIGSEGV) in step 'render' (log: ")
    assert "Metadata" not in str(err)
    assert err.log_path is not None and err.log_path.parent == fenta_home / "logs"
    assert "-filter_complex" in err.log_path.read_text().splitlines()[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file()) == []


def test_a_crash_while_preparing_a_large_still_is_not_blamed_on_the_image(tmp_path, monkeypatch, make_media):
    from fenta.errors import MediaError, RenderError
    from fenta.media import ffmpeg as ffm

    big = make_media("big.png", "testsrc2=s=1200x1200:d=1", "-frames:v", "1")  # far more pixels than its slot
    _crashing_ffmpeg(tmp_path, monkeypatch, times="always")
    try:
        tl = Timeline(
            canvas=SMALL_CANVAS,
            duration=1.0,
            segments=[Segment(kind="image", path=str(big), start=0, duration=1.0)],
            template=template(),
        )
        with pytest.raises(RenderError) as caught:
            do_render(tl, tmp_path / "o.mp4", thumb=False)
    finally:
        monkeypatch.delenv("FENTA_FFMPEG")
        ffm._locate.cache_clear()
    assert not isinstance(caught.value, MediaError)
    assert "FFmpeg crashed (signal 11, SIGSEGV) in step 'preparing a still'" in str(caught.value)


def test_the_thumbnail_is_the_frame_at_forty_percent_and_sits_on_a_keyframe(tmp_path):
    from fenta.render.thumbnail import thumbnail_time

    # 40% of 5 s falls in the middle of the blue slot, away from any cut (where x264 puts keyframes anyway).
    slots = [("#FF0000", 0.0, 1.5), ("#0000FF", 1.5, 2.0), ("#FFFFFF", 3.5, 1.5)]
    segs = [Segment(kind="color", color=c, start=s, duration=d) for c, s, d in slots]
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS}, duration=5.0, segments=segs, template=template()
    )
    do_render(tl, tmp_path / "o.mp4")
    at = thumbnail_time(5.0, FPS)
    assert at == 2.0
    import subprocess

    from fenta.media.ffmpeg import ffmpeg_exe

    px = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-i",
        str(tmp_path / "o.jpg"),
        "-vf",
        "scale=1:1:flags=area",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    r, g, b = subprocess.run(px, capture_output=True, check=True).stdout[:3]
    assert b > 200 and r < 60 and g < 60
    keys = ff("-skip_frame", "nokey", "-i", str(tmp_path / "o.mp4"), "-vf", "showinfo", "-f", "null", "-")
    key_times = [float(t) for t in __import__("re").findall(r"pts_time:([\d.]+)", keys.stderr)]
    assert any(abs(t - at) < 0.5 / FPS for t in key_times)


def test_the_title_card_uses_balanced_measured_lines(tmp_path):
    from fenta.render.compose import build_command

    tpl = template("square", title_card={"seconds": 2.0, "size": 64})
    tl = Timeline(
        canvas={"width": 1080, "height": 1080, "fps": FPS},
        duration=2.0,
        title="Octopuses have three hearts and blue blood.",
        segments=[Segment(kind="color", color="#204060", start=0, duration=2.0)],
        template=tpl,
    )
    build_command(tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), infos={}, textdir=tmp_path)
    lines = (tmp_path / "title.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 2 and all(len(line.split()) >= 2 for line in lines)  # no lone word on a line
    assert max(map(len, lines)) - min(map(len, lines)) <= 8


def test_colour_slots_are_made_inside_the_graph_not_as_inputs_that_run_ahead(tmp_path):
    from fenta.render.compose import build_command

    # An `-i lavfi color` input produces frames as fast as it can; beside fades they piled up
    # (+600 MiB at 1080x1920). A `color` source filter only makes the frames asked for.
    segs = [Segment(kind="color", color="#112233", start=i, duration=1.0) for i in range(4)]
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=4.0,
        segments=segs,
        transition={"type": "fade", "seconds": 0.4},
        template=template(),
    )
    args = build_command(
        tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), infos={}, textdir=tmp_path
    )
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    assert not any(i.startswith("color=") for i in inputs)
    graph = args[args.index("-filter_complex") + 1]
    assert graph.count("color=") == 4  # one source per slot: equal slots are not merged into one


def test_small_clips_are_decoded_on_one_thread_and_big_ones_keep_frame_threads(tmp_path):
    from fenta.media.probe import MediaInfo
    from fenta.render.compose import build_command

    small, big = str(tmp_path / "small.mp4"), str(tmp_path / "big.mp4")
    infos = {
        small: MediaInfo(path=small, duration=5, width=1280, height=720, video_codec="h264", has_video=True),
        big: MediaInfo(path=big, duration=5, width=3840, height=2160, video_codec="h264", has_video=True),
    }
    segs = [
        Segment(kind="video", path=small, start=0, duration=1.0),
        Segment(kind="video", path=big, start=1, duration=1.0),
    ]
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS}, duration=2.0, segments=segs, template=template()
    )
    args = build_command(
        tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), infos=infos, textdir=tmp_path
    )
    opts = options_of_inputs(args)
    assert "-threads" in opts[tmp_path / "small.mp4"]
    assert "-threads" not in opts[tmp_path / "big.mp4"]


def test_stills_and_wav_files_skip_ffmpegs_stream_info_pass_and_clips_keep_it(tmp_path):
    from fenta.media.probe import MediaInfo
    from fenta.render.compose import build_command

    photo, clip_, speech = (
        str(tmp_path / "photo.jpg"),
        str(tmp_path / "clip.mp4"),
        str(tmp_path / "speech.wav"),
    )
    infos = {
        photo: MediaInfo(
            path=photo, duration=0.04, width=640, height=480, video_codec="mjpeg", has_video=True
        ),
        clip_: MediaInfo(
            path=clip_,
            duration=5,
            width=640,
            height=480,
            video_codec="h264",
            has_video=True,
            has_audio=True,
            audio_codec="aac",
        ),
        speech: MediaInfo(path=speech, duration=2, has_audio=True, audio_codec="pcm_s16le"),
    }
    segs = [
        Segment(kind="image", path=photo, start=0, duration=1.0),
        Segment(kind="video", path=clip_, start=1, duration=1.0),
    ]
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=2.0,
        segments=segs,
        voice={"path": speech, "duration": 2},
        template=template(),
    )
    opts = options_of_inputs(
        build_command(
            tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), infos=infos, textdir=tmp_path
        )
    )
    assert "-nofind_stream_info" in opts[tmp_path / "photo.jpg"]
    assert "-nofind_stream_info" in opts[tmp_path / "speech.wav"]
    assert "-nofind_stream_info" not in opts[tmp_path / "clip.mp4"]


def test_a_clip_is_read_only_a_few_frames_past_its_slot(tmp_path):
    from fenta.media.probe import MediaInfo
    from fenta.render.compose import build_command

    # Every frame read is also decoded: a long clip in a short slot must stop soon after it.
    path = str(tmp_path / "long.mp4")
    infos = {
        path: MediaInfo(
            path=path, duration=60, width=640, height=480, fps=30.0, video_codec="h264", has_video=True
        )
    }
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=2.0,
        segments=[Segment(kind="video", path=path, start=0, duration=2.0)],
        template=template(),
    )
    opts = options_of_inputs(
        build_command(
            tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), infos=infos, textdir=tmp_path
        )
    )[tmp_path / "long.mp4"]
    read = float(opts[opts.index("-t") + 1])
    assert 2.0 < read <= 2.0 + 0.15


def options_of_inputs(args: list[str]) -> dict:
    """Each input file of an FFmpeg command -> the options written before its -i."""
    groups, opts, i = {}, [], 0
    while args[i] != "-filter_complex":
        if args[i] == "-i":
            groups[Path(args[i + 1].removeprefix("file:"))], opts, i = opts, [], i + 2
        else:
            opts.append(args[i])
            i += 1
    return groups


def test_ken_burns_moves_the_picture_on_every_frame(make_media, tmp_path):
    import subprocess

    from fenta.media.ffmpeg import ffmpeg_exe

    # A JPEG's 1/25 time base once rounded the 30 fps timestamps: `fps` then dropped and doubled frames.
    img = make_media("a.jpg", "testsrc2=s=320x400:d=1", "-frames:v", "1")  # small: scaled in the graph
    tl = Timeline(
        canvas={"width": 180, "height": 320, "fps": 30},
        duration=2.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=2.0, zoom=(1.0, 1.5))],
        template=template(canvas={"width": 180, "height": 320, "fps": 30}),
    )
    do_render(tl, tmp_path / "o.mp4", profile=Profile(name="canvas", preset="ultrafast", crf=0), thumb=False)
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "o.mp4"), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    frames = [line.rsplit(",", 1)[-1] for line in out.splitlines() if not line.startswith("#")]
    assert len(frames) == 60
    assert all(a != b for a, b in zip(frames, frames[1:]))


def test_a_long_cut_montage_copies_each_frame_once_so_slots_keep_no_frame_pools(make_media, tmp_path):
    from fenta.render.compose import POOLED_SLOTS_MAX, build_command

    still = make_media("s.png", "testsrc2=s=200x300:d=1", "-frames:v", "1")

    def cut_montage(slots: int) -> Timeline:
        segs = [Segment(kind="image", path=str(still), start=i * 0.2, duration=0.2) for i in range(slots)]
        return Timeline(
            canvas={"width": 180, "height": 320, "fps": FPS},
            duration=slots * 0.2,
            segments=segs,
            template=template(),
        )

    def graph(tl: Timeline) -> str:
        args = build_command(tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), textdir=tmp_path)
        return args[args.index("-filter_complex") + 1]

    assert "copy" not in graph(cut_montage(POOLED_SLOTS_MAX))
    long = cut_montage(POOLED_SLOTS_MAX + 1)
    assert "]copy[" in graph(long)
    do_render(long, tmp_path / "o.mp4", thumb=False)
    assert streams(tmp_path / "o.mp4")["frames"] == round(long.duration * FPS)
