"""Voice.TTS: narration audio plus one timed entry per written word."""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from pydantic import Field

from ..errors import NodeError
from ..tts.words import align_events, split_words
from ..types import Audio, Word
from .base import Node, NodeContext, Params, Ports, register

_EDGE_VOICE = re.compile(r"^([a-z]{2,3})-[A-Z]{2}-\w+Neural$")


class TTSParams(Params):
    engine: Literal["auto", "espeak", "edge"] = Field("auto", description="auto: edge, falling back to offline espeak.")
    voice: str | None = Field(None, description="Engine voice (edge: en-US-AriaNeural; espeak: en-us, ru, de ...).")
    language: str = Field("en", description="Language code used to pick a default voice.")
    rate: int = Field(0, ge=-50, le=100, description="Speed change in percent.")
    text: str | None = Field(None, description="Text to speak when no 'text' input is connected.")


class TTSInputs(Ports):
    text: str | None = None


class TTSOutputs(Ports):
    audio: Audio
    words: list[Word]


def espeak_voice(params: TTSParams) -> str:
    v = params.voice
    if v and _EDGE_VOICE.match(v):
        return _EDGE_VOICE.match(v).group(1)  # type: ignore[union-attr]
    return v or {"en": "en-us"}.get(params.language, params.language)


def edge_voice(params: TTSParams) -> str:
    if params.voice and _EDGE_VOICE.match(params.voice):
        return params.voice
    return {"en": "en-US-AriaNeural", "ru": "ru-RU-SvetlanaNeural", "de": "de-DE-KatjaNeural", "es": "es-ES-ElviraNeural", "fr": "fr-FR-DeniseNeural"}.get(params.language, "en-US-AriaNeural")


@register
class VoiceTTS(Node):
    type = "Voice.TTS"
    description = "Speaks the text; engines: auto, espeak (offline), edge (online neural voices)."
    Params = TTSParams
    Inputs = TTSInputs
    Outputs = TTSOutputs
    resource = "cpu"

    def validate_params(self, params: TTSParams, template) -> list[tuple[str, str]]:
        return []

    async def run(self, ctx: NodeContext, params: TTSParams, inputs: TTSInputs) -> TTSOutputs:
        text = inputs.text if inputs.text is not None else params.text
        if not text or not split_words(text):
            raise ctx.error("nothing to speak: connect a 'text' input or set params.text", field="params.text")
        engine = params.engine
        if engine in ("auto", "edge"):
            try:
                return await self._edge(ctx, params, text)
            except OSError as e:
                if engine == "edge":
                    raise ctx.error(f"edge-tts could not reach the voice service ({type(e).__name__}); use engine: espeak to work offline", retryable=True) from None
                ctx.warn(f"edge-tts unreachable ({type(e).__name__}); using the offline espeak voice")
        return await self._espeak(ctx, params, text)

    async def _espeak(self, ctx: NodeContext, params: TTSParams, text: str) -> TTSOutputs:
        from ..tts.espeak import synthesize

        wpm = int(175 * (1 + params.rate / 100))
        try:
            res = await asyncio.to_thread(synthesize, text, ctx.workdir / "voice.wav", voice=espeak_voice(params), rate=wpm)
        except NodeError as e:
            raise ctx.error(e.message, field=e.field or "params.voice") from None
        path = ctx.keep(res.path)
        return TTSOutputs(audio=Audio(path=path, duration=res.duration), words=[Word(text=w, start=s, end=e) for w, s, e in res.words])

    async def _edge(self, ctx: NodeContext, params: TTSParams, text: str) -> TTSOutputs:
        from ..tts.edge import synthesize

        out = ctx.workdir / "voice.mp3"
        rate = f"{params.rate:+d}%"
        duration, events = await synthesize(text, out, voice=edge_voice(params), rate=rate)
        # Map boundary events (which carry the spoken token) onto written words by order.
        positions, cursor = [], 0
        for token, start, _end in events:
            idx = text.find(token, cursor)
            if idx < 0:
                continue
            positions.append((idx, start))
            cursor = idx + len(token)
        words = align_events(text, positions, duration)
        return TTSOutputs(audio=Audio(path=ctx.keep(out), duration=duration), words=[Word(text=w, start=s, end=e) for w, s, e in words])
