"""Online neural voices through edge-tts 7.x, with per-word boundary events."""

from __future__ import annotations

import asyncio
from pathlib import Path

__all__ = ["synth_chunk", "list_voices", "NETWORK_ERRORS", "RATE"]

#: edge-tts sends 24 kHz mono MP3; chunks are decoded to PCM at this rate.
RATE = 24000


def _network_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [OSError, asyncio.TimeoutError]
    try:
        import aiohttp

        errs.append(aiohttp.ClientError)
    except ImportError:  # pragma: no cover - aiohttp ships with edge-tts
        pass
    return tuple(errs)


#: What a lost connection looks like (aiohttp client errors are OSError; timeouts are asyncio.TimeoutError).
NETWORK_ERRORS = _network_errors()


async def synth_chunk(
    text: str, workdir: Path, *, voice: str, rate: str = "+0%", volume: str = "+0%", pitch: str = "+0Hz"
):
    """Speak `text` with edge-tts; returns a `Chunk` with one timed entry per written word.

    Raises whatever edge-tts raises on network trouble (see `NETWORK_ERRORS`).
    """
    import edge_tts

    from .audio import Chunk, decode_to_pcm
    from .words import align_events, tokens_to_events, trim_word_ends

    # The default boundary changed within 7.x (to SentenceBoundary): ask for words explicitly.
    comm = edge_tts.Communicate(text, voice, rate=rate, volume=volume, pitch=pitch, boundary="WordBoundary")
    tokens: list[tuple[str, float]] = []
    workdir.mkdir(parents=True, exist_ok=True)
    mp3 = workdir / f"edge-{id(comm)}.mp3"
    with open(mp3, "wb") as fh:
        async for chunk in comm.stream():
            if chunk["type"] == "audio":
                fh.write(chunk["data"])
            elif chunk["type"] == "WordBoundary":
                tokens.append((chunk["text"], chunk["offset"] / 1e7))
    if mp3.stat().st_size == 0:
        from ..errors import NodeError

        raise NodeError(f"edge-tts returned no audio for voice '{voice}'", field="params.voice")
    samples = await asyncio.to_thread(decode_to_pcm, mp3, RATE)
    mp3.unlink(missing_ok=True)
    duration = len(samples) / RATE
    words = align_events(text, tokens_to_events(text, tokens), duration)
    return Chunk(samples, RATE, trim_word_ends(words, samples, RATE))


async def list_voices() -> list[dict[str, str]]:
    """All edge voices (needs the network): name, language (locale) and gender."""
    import edge_tts

    voices = await edge_tts.list_voices()
    return [{"name": v["ShortName"], "language": v["Locale"], "gender": v.get("Gender", "")} for v in voices]
