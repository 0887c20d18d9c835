"""The edge engine against a fake of the remote service: real MP3 chunks plus WordBoundary events."""

from __future__ import annotations

import asyncio
import subprocess

import edge_tts
import pytest

from fenta.media.ffmpeg import ffmpeg_exe
from fenta.tts import edge

TEXT = "Hello, well-known world in 2026!"
# (spoken token, start seconds): "2026" arrives as words, as the service reads it.
BOUNDARIES = [
    ("Hello", 0.10),
    ("well-known", 0.60),
    ("world", 1.10),
    ("in", 1.50),
    ("twenty", 1.70),
    ("twenty-six", 2.10),
]


@pytest.fixture(scope="module")
def mp3_bytes(tmp_path_factory) -> bytes:
    """Three seconds of 24 kHz mono MP3 made by FFmpeg (edge sends audio-24khz-48kbitrate-mono-mp3)."""
    out = tmp_path_factory.mktemp("edge") / "voice.mp3"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:d=3:r=24000",
            "-ac",
            "1",
            "-b:a",
            "48k",
            str(out),
        ],
        check=True,
    )
    return out.read_bytes()


class FakeCommunicate:
    """Stands in for edge_tts.Communicate: yields audio chunks and WordBoundary events like the service."""

    instances: list[FakeCommunicate] = []
    audio = b""
    fail_with: BaseException | None = None

    def __init__(self, text, voice, **kwargs):
        self.text, self.voice, self.kwargs = text, voice, kwargs
        FakeCommunicate.instances.append(self)

    async def stream(self):
        if self.fail_with is not None:
            raise self.fail_with
        step = len(self.audio) // 4 + 1
        for i, (token, start) in enumerate(BOUNDARIES):
            if i % 2 == 0:
                chunk = self.audio[(i // 2) * step : (i // 2 + 1) * step]
                yield {"type": "audio", "data": chunk}
            yield {"type": "WordBoundary", "offset": start * 1e7, "duration": 0.3e7, "text": token}
        yield {"type": "audio", "data": self.audio[3 * step :]}


@pytest.fixture
def fake_edge(monkeypatch, mp3_bytes):
    FakeCommunicate.instances = []
    FakeCommunicate.audio = mp3_bytes
    FakeCommunicate.fail_with = None
    monkeypatch.setattr(edge_tts, "Communicate", FakeCommunicate)
    return FakeCommunicate


def test_edge_asks_for_word_boundaries_and_passes_voice_rate_volume_and_pitch(fake_edge, tmp_path):
    asyncio.run(
        edge.synth_chunk(TEXT, tmp_path, voice="en-US-AriaNeural", rate="+10%", volume="-5%", pitch="+2Hz")
    )
    (comm,) = fake_edge.instances
    assert comm.voice == "en-US-AriaNeural"
    assert comm.kwargs == {"rate": "+10%", "volume": "-5%", "pitch": "+2Hz", "boundary": "WordBoundary"}


def test_edge_audio_chunks_are_joined_and_every_written_word_gets_its_boundary_time(fake_edge, tmp_path):
    chunk = asyncio.run(edge.synth_chunk(TEXT, tmp_path, voice="en-US-AriaNeural"))
    assert abs(chunk.duration - 3.0) < 0.1
    words = [w for w, _, _ in chunk.words]
    assert words == ["Hello,", "well-known", "world", "in", "2026!"]
    starts = dict((w, s) for w, s, _ in chunk.words)
    assert starts["Hello,"] == pytest.approx(0.10, abs=0.001)
    assert starts["world"] == pytest.approx(1.10, abs=0.001)
    # "2026" was spoken as "twenty twenty-six": it starts at the first of them.
    assert starts["2026!"] == pytest.approx(1.70, abs=0.001)
