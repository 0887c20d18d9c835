"""Awkward media: odd sizes, rotation, VFR, no audio, short clips, huge stills, GIF/WebP, wrong kinds,
corrupt files."""

from __future__ import annotations

import pytest

from fenta.errors import MediaError
from fenta.render.timeline import Segment, Timeline

from ._media import do_render, streams, template

FPS = 15


def one(path, kind="video", seconds=1.0, loop=False, **kw) -> Timeline:
    return Timeline(
        canvas={"width": 180, "height": 320, "fps": FPS},
        duration=seconds,
        segments=[Segment(kind=kind, path=str(path), start=0, duration=seconds, loop=loop, **kw)],
        template=template(),
    )


@pytest.mark.parametrize(
    "name,source,extra,kind",
    [
        ("odd.mp4", "testsrc2=s=333x187:r=25:d=1", ["-pix_fmt", "yuv444p"], "video"),
        (
            "vfr.mp4",
            "testsrc2=s=320x240:r=30:d=1,setpts='N/30/TB+if(gt(N,10),0.2,0)'",
            ["-fps_mode", "vfr", "-pix_fmt", "yuv420p"],
            "video",
        ),
        ("noaudio.webm", "testsrc2=s=160x120:r=10:d=1", [], "video"),
        ("anim.gif", "testsrc2=s=120x90:r=10:d=0.5", [], "video"),
        ("anim.webp", "testsrc2=s=120x90:r=10:d=0.5", ["-loop", "0"], "video"),
        ("huge.jpg", "testsrc2=s=6000x4000:d=1", ["-frames:v", "1"], "image"),
    ],
)
def test_awkward_sources_render_to_the_exact_length_and_size(name, source, extra, kind, make_media, tmp_path):
    src = make_media(name, source, *extra)
    do_render(
        one(src, kind, seconds=1.4, loop=kind == "video", zoom=(1.0, 1.1) if kind == "image" else None),
        tmp_path / "o.mp4",
        thumb=False,
    )
    s = streams(tmp_path / "o.mp4")
    assert (s["width"], s["height"]) == (180, 320)
    assert s["frames"] == round(1.4 * FPS)


def test_rotation_metadata_is_applied(make_media, tmp_path):
    import subprocess

    from fenta.media.ffmpeg import ffmpeg_exe
    from fenta.media.probe import probe

    plain = make_media("wide.mp4", "color=c=white:s=320x160:r=10:d=1", "-pix_fmt", "yuv420p")
    rotated = tmp_path / "rot.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-display_rotation",
            "90",
            "-i",
            str(plain),
            "-c",
            "copy",
            str(rotated),
        ],
        check=True,
    )
    info = probe(rotated)
    assert info.rotation in (90, 270) and info.display_size == (160, 320)
    do_render(one(rotated), tmp_path / "o.mp4", thumb=False)
    assert streams(tmp_path / "o.mp4")["width"] == 180


def test_a_phone_photo_is_shown_upright_as_its_exif_orientation_says(tmp_path):
    from PIL import Image

    from ._media import gray_frame

    # Stored landscape, white on its left half; EXIF 6 = shown turned a quarter clockwise,
    # so upright the white half is the top one.
    photo = Image.new("L", (640, 360), 0)
    photo.paste(255, (0, 0, 320, 360))
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.convert("RGB").save(tmp_path / "phone.jpg", exif=exif.tobytes())
    do_render(one(tmp_path / "phone.jpg", "image"), tmp_path / "o.mp4", thumb=False)
    w, h, gray = gray_frame(tmp_path / "o.mp4", 0.5)
    assert gray[h // 4 * w + w // 2] > 200 and gray[3 * h // 4 * w + w // 2] < 50


def test_a_clip_shorter_than_its_slot_is_padded_not_cut_short(make_media, tmp_path):
    src = make_media("short.mp4", "testsrc2=s=160x120:r=10:d=0.3", "-pix_fmt", "yuv420p")
    do_render(one(src, seconds=1.5, loop=False), tmp_path / "o.mp4", thumb=False)
    assert streams(tmp_path / "o.mp4")["frames"] == round(1.5 * FPS)


def test_audio_only_file_where_a_picture_is_expected_is_refused_by_name(make_media, tmp_path):
    audio = make_media("song.wav", "sine=d=1")
    with pytest.raises(MediaError) as e:
        do_render(one(audio), tmp_path / "o.mp4")
    assert "song.wav" in str(e.value) and "audio only" in str(e.value)


def test_corrupt_file_fails_naming_it_and_leaves_nothing_behind(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    out = tmp_path / "out" / "o.mp4"
    with pytest.raises(MediaError) as e:
        do_render(one(bad), out)
    assert "broken.mp4" in str(e.value)
    assert not [p for p in out.parent.iterdir() if p.is_file()]


def test_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(MediaError) as e:
        do_render(one(tmp_path / "gone.png", "image"), tmp_path / "o.mp4")
    assert "gone.png" in str(e.value)
