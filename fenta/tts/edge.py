"""Online neural voices through edge-tts 7.x, with per-word boundary events."""

from __future__ import annotations

from pathlib import Path

__all__ = ["synthesize"]


async def synthesize(text: str, out_path: Path, *, voice: str, rate: str = "+0%", volume: str = "+0%", pitch: str = "+0Hz") -> tuple[float, list[tuple[str, float, float]]]:
    """Speak `text` to an MP3 at `out_path`; returns (duration, [(word, start, end)]).

    Raises whatever edge-tts raises on network trouble (aiohttp errors are OSError).
    """
    import edge_tts

    # The default boundary changed within 7.x (to SentenceBoundary): ask for words explicitly.
    comm = edge_tts.Communicate(text, voice, rate=rate, volume=volume, pitch=pitch, boundary="WordBoundary")
    events: list[tuple[str, float, float]] = []
    with open(out_path, "wb") as fh:
        async for chunk in comm.stream():
            if chunk["type"] == "audio":
                fh.write(chunk["data"])
            elif chunk["type"] == "WordBoundary":
                start = chunk["offset"] / 1e7
                events.append((chunk["text"], start, start + chunk["duration"] / 1e7))
    from ..render.ffmpeg import probe

    duration = probe(out_path).duration or (events[-1][2] if events else 0.0)
    return duration, events
