"""The audio track of a render: narration and a ducked music bed, brought to the loudness target.

The mix is measured first (`measure_loudness`: ebur128, audio only) and one gain plus a limiter
brings it to the target; without a measurement, single-pass loudnorm.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import ffmpeg

from ..media.probe import MediaInfo
from .inputs import file_input, probe_inputs
from .profile import Profile
from .timeline import Timeline

__all__ = ["mixed_audio", "final_audio", "measure_loudness", "audio_args"]


def mixed_audio(tl: Timeline, infos: dict[str, MediaInfo]):
    """Narration + music bed (looped, ducked under the voice), before loudness normalisation.

    None when the video is silent.
    """
    D = tl.duration
    voice = None
    if tl.voice:
        voice = (
            file_input(tl.voice.path, infos.get(tl.voice.path))
            .audio.filter("aresample", 48000)
            .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("apad")
            .filter("atrim", duration=f"{D:.4f}")
        )
    music = None
    if tl.music:
        m = tl.music
        opts: dict[str, Any] = {"stream_loop": -1} if m.loop else {}
        # An endless input is read as fast as the disk allows and its frames pile up in the
        # graph (gigabytes over a long video): stop reading at the video's length.
        opts["t"] = f"{D + 0.5:.3f}"
        if m.start > 0:
            opts["ss"] = f"{m.start:.3f}"
        music = (
            file_input(m.path, infos.get(m.path), **opts)
            .audio.filter("aresample", 48000)
            .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("volume", f"{m.level_db}dB")
            .filter("apad")
            .filter("atrim", duration=f"{D:.4f}")
        )
        # build_timeline filled fade_out (None only before the template's value is in)
        if m.fade_out > 0 and D > m.fade_out * 2:  # type: ignore[operator]
            music = music.filter("afade", t="out", st=f"{D - m.fade_out:.3f}", d=f"{m.fade_out:.3f}")  # type: ignore[operator]
    if voice is not None and music is not None:
        if tl.music.ducking:  # type: ignore[union-attr]
            vs = voice.filter_multi_output("asplit", 2)
            voice = vs.stream(0)
            music = ffmpeg.filter(
                [music, vs.stream(1)],
                "sidechaincompress",
                threshold=tl.music.duck_threshold,  # type: ignore[union-attr]  # music is set: so is tl.music
                ratio=tl.music.duck_ratio,  # type: ignore[union-attr]
                attack=15,
                release=350,
                makeup=1,  # type: ignore[union-attr]
            )
        return ffmpeg.filter([voice, music], "amix", inputs=2, duration="first", normalize=0)
    return voice if voice is not None else music


_TRUE_PEAK_DB = -1.5


def final_audio(tl: Timeline, infos: dict[str, MediaInfo], gain_db: float | None = None):
    D = tl.duration
    audio = mixed_audio(tl, infos)
    if audio is None:
        return ffmpeg.input(f"anullsrc=r=48000:cl=stereo:d={D:.4f}", f="lavfi").audio.filter(
            "atrim", duration=f"{D:.4f}"
        )
    if gain_db is None:
        # No measurement available: single-pass loudnorm (dynamic; lands within about 1.5 LU).
        audio = audio.filter("loudnorm", I=tl.loudness, TP=_TRUE_PEAK_DB, LRA=11)
    else:
        # Measured beforehand (`measure_loudness`): one fixed gain hits the target exactly, and a
        # limiter keeps peaks under the ceiling. Far cheaper than loudnorm, which runs at 192 kHz.
        audio = audio.filter("volume", f"{gain_db:.2f}dB").filter(
            "alimiter", limit=f"{10 ** (_TRUE_PEAK_DB / 20):.4f}", level=0, attack=5, release=50
        )
    return (
        audio.filter("aresample", 48000)
        .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
        .filter("atrim", duration=f"{D:.4f}")
    )


_LOUDNESS = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS")


async def measure_loudness(tl: Timeline, infos: dict[str, MediaInfo]) -> float | None:
    """Gain (dB) that brings the timeline's audio mix to its loudness target, or None.

    An audio-only analysis pass (no video is decoded): about 0.2 s for a 30 s short.
    """
    import asyncio

    mix = mixed_audio(tl, infos)
    if mix is None:
        return None
    args = ffmpeg.output(mix.filter("ebur128", framelog="quiet"), "-", f="null").get_args()
    from ..media.ffmpeg import ffmpeg_exe

    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-nostats",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    m = _LOUDNESS.search(err.decode(errors="replace"))
    if proc.returncode != 0 or not m or m.group(1) == "-inf" or float(m.group(1)) < -69:
        return None  # silence or a failure: the render falls back to loudnorm (and reports real errors)
    return round(tl.loudness - float(m.group(1)), 2)


def audio_args(
    tl: Timeline,
    out: Path,
    *,
    profile: Profile = Profile(),
    infos: dict[str, MediaInfo] | None = None,
    loudness_gain: float | None = None,
) -> list[str]:
    """FFmpeg arguments writing the whole video's audio track (AAC in MP4) to `out`.

    The same chain as a one-process render.
    """
    if infos is None:
        infos = probe_inputs(tl)
    audio = final_audio(tl, infos, loudness_gain)
    return ffmpeg.output(
        audio, str(out), acodec="aac", audio_bitrate=profile.audio_bitrate, ar=48000, f="mp4"
    ).get_args()
