"""Voice.TTS and Voice.Align: narration audio plus one timed entry per written word."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Literal, cast

from pydantic import Field

from ..errors import FentaError, MediaError, NodeError, PathError, TextError
from ..hashing import file_sha256
from ..tts.speech import Speech, SpeechSettings, offline_engine, synthesize, voice_for
from ..tts.words import split_words
from ..types import Audio, Word
from .base import Node, NodeContext, Params, Ports, register

__all__ = ["VoiceTTS", "VoiceAlign", "TTSParams", "AlignParams", "TextError"]


def _no_words(text: str) -> str:
    shown = text.strip()
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"'{shown}' is only punctuation, symbols or emoji, with no letter or digit"


def _text_problem(text: str | None, field: str, what: str) -> str | None:
    """Why `text` cannot be spoken, or None when it has words."""
    if text is None:
        return f"no {what}: connect a 'text' input or set params.text"
    if not text.strip():
        return f"the {what} is empty" + (
            " (the 'text' input is connected but gave no text)" if field == "inputs.text" else ""
        )
    if not split_words(text):
        return f"the {what} has no words to speak: {_no_words(text)}"
    return None


class TTSParams(Params):
    engine: Literal["auto", "espeak", "edge", "piper"] = Field(
        "auto",
        description=(
            "auto: edge, falling back to the offline engine for the language "
            "(piper for English if installed, else espeak) when the network fails; "
            "espeak: offline, every language it ships; edge: online neural voices; "
            "piper: offline natural English (pip install 'fenta[piper]')."
        ),
    )
    voice: str | None = Field(
        None,
        description=(
            "Engine voice: edge 'en-US-AriaNeural', 'ru-RU-SvetlanaNeural'; espeak 'en-us', 'ru', 'de'; "
            "piper 'joe' or a .onnx path. `fenta voices` lists them."
        ),
    )
    language: str = Field(
        "en",
        description=(
            "Language code used to pick a default voice and the offline fallback ('en', 'ru', ...)."
        ),
    )
    rate: int = Field(0, ge=-50, le=100, description="Speed change in percent.")
    volume: int = Field(0, ge=-50, le=100, description="Loudness change in percent.")
    pitch: int = Field(
        0,
        ge=-50,
        le=50,
        description="Pitch change (edge: Hz; espeak: points on its 0-100 scale; piper: ignored).",
    )
    pause: float = Field(
        0.35,
        ge=0,
        le=3,
        description=(
            "Silence between sentences (seconds); long texts are spoken sentence by sentence and joined."
        ),
    )
    text: str | None = Field(None, description="Text to speak when no 'text' input is connected.")


_EDGE_NAME = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)+Neural$")
_LANG_CODE = re.compile(r"^[a-z]{2,3}(-[a-z]{2})?$")


def _unknown_voice(params: TTSParams) -> list[tuple[str, str]]:
    """A voice the chosen engine does not have, found before the run.

    No network: an edge voice is checked by the form of its name.
    """
    field = "params.voice" if params.voice else "params.language"
    voice = voice_for(params.engine, params.voice, params.language)
    if params.engine == "espeak":
        from ..tts import espeak

        known = {
            n.lower() for v in espeak.list_voices() for n in (v["name"], v["id"], v["id"].rsplit("/", 1)[-1])
        }
        if voice.lower() not in known:
            return [(field, f"espeak has no voice '{voice}' (see `fenta voices --engine espeak`)")]
    elif params.engine == "edge":
        if params.voice and not (_EDGE_NAME.match(params.voice) or _LANG_CODE.match(params.voice)):
            return [
                (
                    field,
                    f"'{params.voice}' is not an edge voice name like 'en-US-AriaNeural' "
                    "(see `fenta voices --engine edge`)",
                )
            ]
    elif params.engine == "piper":
        if voice not in ("joe", "en_US-joe-medium", "en-us", "en") and not (
            voice.endswith(".onnx") and Path(voice).expanduser().is_file()
        ):
            return [(field, f"piper has no voice '{voice}' (use 'joe' or a path to a piper .onnx model)")]
    return []


def _names_file(voice: str) -> bool:
    """Whether a voice is given as a file: a piper `.onnx` model (espeak ids like 'gmw/en' are names)."""
    return voice.endswith(".onnx")


class TTSInputs(Ports):
    text: str | None = None


class VoiceOutputs(Ports):
    audio: Audio
    words: list[Word]


def _edge_attempts() -> tuple[int, float]:
    """(attempts, first backoff in seconds) for an explicit edge engine.

    A function of the module so that tests can shorten it.
    """
    return 3, 1.0


def _words_out(speech: Speech) -> list[Word]:
    return [Word(text=w, start=s, end=e) for w, s, e in speech.words]


@register
class VoiceTTS(Node):
    type = "Voice.TTS"
    version = "3"  # 3: words keep punctuation-only tokens ("arms —")
    description = (
        "Speaks the text and times every written word; engines: "
        "auto (edge, offline fallback with a warning), espeak (offline, any language it ships), "
        "edge (online neural voices), piper (offline English, extra). "
        "Long texts are spoken sentence by sentence, joined without gaps or clicks, "
        "and each sentence is cached."
    )
    Params = TTSParams
    Inputs = TTSInputs
    Outputs = VoiceOutputs
    resource = "cpu"

    def validate_params(self, params: TTSParams, template) -> list[tuple[str, str]]:
        problems = []
        if params.text is not None and params.text.strip() and not split_words(params.text):
            problems.append(("params.text", f"the script has no words to speak: {_no_words(params.text)}"))
        if params.engine == "piper":
            from ..tts import piper

            if not piper.available() and (not params.voice or not params.voice.endswith(".onnx")):
                problems.append(
                    ("params.engine", "the piper engine needs the extra: pip install 'fenta[piper]'")
                )
            elif params.voice:
                problems += _unknown_voice(params)
        elif params.engine in ("espeak", "edge"):
            problems += _unknown_voice(params)
        return problems

    def local_paths(self, params: TTSParams) -> list[tuple[str, str]]:
        return [("params.voice", params.voice)] if params.voice and _names_file(params.voice) else []

    async def run(self, ctx: NodeContext, params: TTSParams, inputs: TTSInputs) -> VoiceOutputs:
        if params.voice and _names_file(params.voice):  # the engines open it relative to the current folder
            why = ctx.policy.file_problem(Path(params.voice).expanduser())
            if why is not None:
                raise ctx.error(why, field="params.voice", cls=PathError)
        text = inputs.text if inputs.text is not None else params.text
        field = "inputs.text" if inputs.text is not None else "params.text"
        problem = _text_problem(text, field, "script")
        if problem:
            raise ctx.error(problem, field=field, cls=TextError)
        text = cast(str, text)  # _text_problem found words in it, so it is not None
        engine: str = params.engine
        if engine in ("auto", "edge"):
            from ..retry import RetryPolicy
            from ..tts.edge import NETWORK_ERRORS

            attempts, backoff = _edge_attempts() if engine == "edge" else (1, 0.0)
            policy = RetryPolicy(
                attempts=attempts, base=backoff, exceptions=NETWORK_ERRORS, scale=ctx.settings.backoff_scale
            )
            try:
                return await policy.run(lambda _n: self._speak(ctx, params, text, "edge"))
            except NETWORK_ERRORS as e:
                reason = type(e).__name__
                if engine == "edge":
                    raise ctx.error(
                        f"edge-tts could not reach the voice service ({reason}); "
                        "use engine: espeak or piper to work offline",
                        field="params.engine",
                        retryable=True,
                    ) from None
            fallback = offline_engine(params.language)
            ctx.warn(
                f"edge-tts is unreachable ({reason}); speaking with the offline {fallback} voice instead"
            )
            engine = fallback
        return await self._speak(ctx, params, text, engine)

    async def _speak(self, ctx: NodeContext, params: TTSParams, text: str, engine: str) -> VoiceOutputs:
        settings = SpeechSettings(
            engine=engine,
            voice=voice_for(engine, params.voice, params.language),
            rate=params.rate,
            volume=params.volume,
            pitch=params.pitch,
        )
        try:
            speech = await synthesize(
                text,
                settings,
                ctx.workdir / "voice.wav",
                cache_dir=ctx.settings.cache_dir,
                pause=params.pause,
                on_progress=ctx.progress,
            )
        except FentaError as e:
            if e.node:
                raise
            raise ctx.error(e.message, field=e.field or "params.voice") from None
        if speech.chunks_cached:
            sentences = speech.chunks_cached + speech.chunks_synthesised
            ctx.info(f"{speech.chunks_cached} of {sentences} sentences reused from the speech cache")
        return VoiceOutputs(
            audio=Audio(path=ctx.keep(speech.path), duration=speech.duration), words=_words_out(speech)
        )


class AlignParams(Params):
    audio: str | None = Field(
        None,
        description=(
            "Narration file (any format FFmpeg reads), relative to the workflow; "
            "or connect the 'audio' input."
        ),
    )
    text: str | None = Field(None, description="Its transcript, when no 'text' input is connected.")
    method: Literal["auto", "sphinx", "estimate"] = Field(
        "auto",
        description=(
            "sphinx: forced alignment with pocketsphinx (English, pip install 'fenta[align]'); "
            "estimate: spread words by length over the speech; "
            "auto: sphinx when installed and the language is English, else estimate (with a warning)."
        ),
    )
    language: str = Field("en", description="Language of the narration.")


class AlignInputs(Ports):
    text: str | None = None
    audio: Audio | None = None


@register
class VoiceAlign(Node):
    type = "Voice.Align"
    version = "2"  # 2: words keep punctuation-only tokens
    description = (
        "Times the words of existing narration: an audio file plus its transcript -> audio, words. "
        "Forced alignment with pocketsphinx (English, extra fenta[align]); "
        "otherwise a proportional estimate with a warning."
    )
    Params = AlignParams
    Inputs = AlignInputs
    Outputs = VoiceOutputs
    resource = "cpu"

    def _audio_path(
        self, params: AlignParams, inputs: AlignInputs | None, workflow_file: str | None
    ) -> Path | None:
        if inputs is not None and inputs.audio is not None:
            return Path(inputs.audio.path)
        if not params.audio:
            return None
        p = Path(params.audio).expanduser()
        if not p.is_absolute() and workflow_file:
            p = Path(workflow_file).resolve().parent / p
        return p

    def local_paths(self, params: AlignParams) -> list[tuple[str, str]]:
        return [("params.audio", params.audio)] if params.audio else []

    def fingerprint(self, params: AlignParams, inputs, *, workflow_file: str | None = None) -> str | None:
        path = self._audio_path(params, inputs, workflow_file)
        if path is None or not path.is_file():
            return None
        return file_sha256(path)

    async def run(self, ctx: NodeContext, params: AlignParams, inputs: AlignInputs) -> VoiceOutputs:
        from ..tts.align import estimate, forced_align, sphinx_available
        from ..tts.audio import decode_to_pcm

        text = inputs.text if inputs.text is not None else params.text
        field = "inputs.text" if inputs.text is not None else "params.text"
        problem = _text_problem(text, field, "transcript")
        if problem:
            raise ctx.error(problem, field=field, cls=TextError)
        text = cast(str, text)  # _text_problem found words in it, so it is not None
        path = self._audio_path(params, inputs, ctx.workflow_file)
        if path is None:
            raise ctx.error(
                "no narration: set params.audio or connect an 'audio' input", field="params.audio"
            )
        if inputs.audio is None:  # a file the params name (an upstream node's audio is the job's own)
            path = ctx.local_file(params.audio or "", field="params.audio")
        if not path.is_file():
            raise ctx.error(f"narration file not found: {path}", field="params.audio", cls=MediaError)
        english = params.language.lower().startswith("en")
        method = params.method
        if method == "sphinx" and not sphinx_available():
            raise ctx.error(
                "forced alignment needs the extra: pip install 'fenta[align]'", field="params.method"
            )
        if method == "sphinx" and not english:
            raise ctx.error(
                "pocketsphinx ships an English model only; use method: estimate for other languages",
                field="params.method",
            )
        if method == "auto":
            method = "sphinx" if english and sphinx_available() else "estimate"
        try:
            if method == "sphinx":
                words, placed = await asyncio.to_thread(forced_align, text, path)
                if placed == 0:
                    ctx.warn(
                        "forced alignment could not match the transcript to the audio; "
                        "word times are estimated from word lengths"
                    )
            else:
                samples = await asyncio.to_thread(decode_to_pcm, path, 16000)
                words = estimate(text, samples, 16000)
                why = (
                    "pip install 'fenta[align]' for forced alignment"
                    if english
                    else "forced alignment supports English only"
                )
                ctx.warn(
                    f"word times are estimated from word lengths ({why}); captions may drift from the voice"
                )
        except MediaError as e:
            raise ctx.error(e.message, field="params.audio", cls=MediaError) from None
        except NodeError as e:
            raise ctx.error(e.message, field=e.field) from None
        from ..media.probe import probe

        duration = probe(path).duration or (words[-1][2] if words else 0.0)
        # Outputs live in the cache, never point at the user's file (it may change or vanish).
        copy = ctx.workdir / f"narration{path.suffix.lower() or '.wav'}"
        shutil.copyfile(path, copy)
        return VoiceOutputs(
            audio=Audio(path=ctx.keep(copy), duration=duration),
            words=[Word(text=w, start=s, end=e) for w, s, e in words],
        )
