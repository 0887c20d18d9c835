"""Probing media without ffprobe: one file, or many with one FFmpeg process."""

from __future__ import annotations

import pytest

from fenta.errors import MediaError
from fenta.media.probe import probe, probe_many


@pytest.fixture
def three_files(make_media):
    return [
        make_media("clip.mp4", "testsrc2=s=320x240:r=25:d=1", "-pix_fmt", "yuv420p"),
        make_media("still.png", "smptebars=s=200x300:d=1", "-frames:v", "1"),
        make_media("tone.wav", "sine=f=440:d=1"),
    ]


def test_probing_many_files_at_once_gives_what_probing_each_gives(three_files):
    assert probe_many(three_files) == [probe(p) for p in three_files]
    clip, still, tone = probe_many(three_files)
    assert (clip.width, clip.height, clip.has_video) == (320, 240, True)
    assert still.is_still and (still.width, still.height) == (200, 300)
    assert tone.has_audio and not tone.has_video


def test_probing_many_files_names_the_unreadable_one(three_files, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 20)
    with pytest.raises(MediaError) as e:
        probe_many([three_files[0], broken, three_files[2]])
    assert e.value.file == str(broken)


def test_probing_many_files_names_a_missing_one(three_files, tmp_path):
    with pytest.raises(MediaError, match="not found") as e:
        probe_many([*three_files, tmp_path / "gone.jpg"])
    assert e.value.file == str(tmp_path / "gone.jpg")


def test_probing_many_large_files_splits_them_into_batches_of_bounded_size(three_files, monkeypatch):
    import fenta.media.probe as probe_module

    batches = []
    real = probe_module._probe_batch
    monkeypatch.setattr(probe_module, "_PROBE_BATCH_BYTES", max(p.stat().st_size for p in three_files))
    monkeypatch.setattr(probe_module, "_probe_batch", lambda files: batches.append(files) or real(files))
    assert probe_many(three_files) == [probe(p) for p in three_files]
    assert len(batches) > 1 and [f for b in batches for f in b] == three_files


def test_a_failed_run_names_the_decoders_complaint_not_ffmpegs_thread_bookkeeping(make_media, tmp_path):
    import asyncio

    from fenta.errors import RenderError
    from fenta.media.run import run_ffmpeg

    good = make_media("good.jpg", "testsrc2=s=320x240:d=1", "-frames:v", "1").read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(good[: good.find(b"\xff\xda")])  # a whole header, no picture data
    graph = "[0:v]scale=100:100[v]"
    with pytest.raises(RenderError) as e:
        asyncio.run(
            run_ffmpeg(
                [
                    "-nofind_stream_info",
                    "-i",
                    str(bad),
                    "-filter_complex",
                    graph,
                    "-map",
                    "[v]",
                    "-f",
                    "null",
                    "-",
                ]
            )
        )
    assert "Task finished" not in e.value.message and "Terminating thread" not in e.value.message
    assert e.value.reason == "Invalid data found when processing input"
