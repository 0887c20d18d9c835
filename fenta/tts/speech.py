"""Engine-independent speech: split long text, synthesise chunks (cached), join them, time every word.

Every engine turns one chunk of text into a `Chunk` (int16 samples + one
timed entry per written word). This module splits the text into sentences,
reuses chunks already synthesised with the same engine, voice and settings
(so editing one sentence of a long script only re-synthesises that sentence),
joins the pieces sample-exactly with an even pause, and writes one WAV.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NodeError
from .audio import Chunk, join_chunks, read_wav, write_wav
from .words import clean_timings, split_words

__all__ = [
    "Speech",
    "SpeechSettings",
    "ENGINES",
    "split_sentences",
    "synthesize",
    "default_voice",
    "offline_engine",
    "list_voices",
    "ChunkCache",
]

ENGINES = ("auto", "edge", "espeak", "piper")
#: Bump when chunk output changes for the same inputs, so cached chunks are not reused.
CHUNK_VERSION = "3"  # 3: punctuation-only tokens kept with a neighbouring word

_EDGE_VOICE = re.compile(
    r"^([a-z]{2,3})(?:-[A-Z][a-z]{3})?-([A-Z]{2})-[\w-]+Neural$"
)  # also zh-CN-liaoning-XiaobeiNeural, iu-Latn-CA-SiqiniqNeural
_EDGE_DEFAULTS = {
    "en": "en-US-AriaNeural",
    "ru": "ru-RU-SvetlanaNeural",
    "de": "de-DE-KatjaNeural",
    "es": "es-ES-ElviraNeural",
    "fr": "fr-FR-DeniseNeural",
    "it": "it-IT-ElsaNeural",
    "pt": "pt-BR-FranciscaNeural",
    "uk": "uk-UA-PolinaNeural",
    "pl": "pl-PL-ZofiaNeural",
    "tr": "tr-TR-EmelNeural",
    "ja": "ja-JP-NanamiNeural",
    "zh": "zh-CN-XiaoxiaoNeural",
}
# A sentence ends with . ! ? … (and closing quotes); the next starts with an upper-case letter or digit.
_SENTENCE_END = re.compile(r"[.!?…][\"'»”)]*$")
_SENTENCE_START = re.compile(r"[\"'«“(]*[A-ZА-ЯЁ0-9]")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Prof|Jr|Sr|vs|etc|e\.g|i\.e|No|т\.е|т\.д|т\.п|др|им|ул|г|гг|см|стр|проф|д-р)\.|\b[A-ZА-ЯЁ]\.)$"
)


@dataclass
class SpeechSettings:
    """What changes the sound besides the text: the cache key of a chunk."""

    engine: str
    voice: str
    rate: int = 0  # percent
    volume: int = 0  # percent
    pitch: int = 0  # edge: Hz; espeak: offset from 50 on its 0-100 scale

    def key(self, text: str) -> str:
        blob = json.dumps(
            [CHUNK_VERSION, self.engine, self.voice, self.rate, self.volume, self.pitch, text],
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Speech:
    """A finished narration: a WAV file and one (word, start, end) per written word."""

    path: Path
    duration: float
    words: list[tuple[str, float, float]]
    engine: str
    voice: str
    chunks_synthesised: int = 0
    chunks_cached: int = 0


def split_sentences(text: str, max_chars: int = 400) -> list[str]:
    """Split text into sentences (abbreviations like "Dr." or "т.е." do not end one).

    Sentences longer than `max_chars` are split further after a comma, else
    between words. Cuts fall only between written words (`split_words`), so
    every character is kept (closing quotes stay with their sentence) and the
    pieces' words are exactly the text's words. A text without words gives [].
    """
    text = " ".join(text.split())
    words = split_words(text)
    groups: list[list] = []
    for i, w in enumerate(words):
        if groups and not _sentence_break(words[i - 1].text, w.text):
            groups[-1].append(w)
        else:
            groups.append([w])
    out: list[str] = []
    for group in groups:
        while group:
            a = group[0].start_char
            if group[-1].end_char - a <= max_chars:
                cut = len(group)
            else:
                fit = max(1, sum(1 for w in group if w.end_char - a <= max_chars))
                commas = [
                    k + 1
                    for k in range(fit)
                    if group[k].text.endswith(",") and group[k].end_char - a > max_chars // 3
                ]
                cut = commas[-1] if commas else fit
            out.append(text[a : group[cut - 1].end_char])
            group = group[cut:]
    return out


def _sentence_break(before: str, after: str) -> bool:
    """Does a sentence end between these two written words?"""
    if not _SENTENCE_END.search(before) or not _SENTENCE_START.match(after):
        return False
    return not _ABBREV.search(before.rstrip("\"'»”)"))


def default_voice(engine: str, language: str) -> str:
    """The voice an engine uses for a language when none is given."""
    lang = language.lower().split("-")[0].split("_")[0]
    if engine == "edge":
        return _EDGE_DEFAULTS.get(lang, _EDGE_DEFAULTS["en"])
    if engine == "piper":
        return "joe"
    return {"en": "en-us"}.get(lang, lang)


def voice_for(engine: str, voice: str | None, language: str) -> str:
    """Adapt a voice name to an engine (an edge voice given to espeak becomes its language)."""
    if not voice:
        return default_voice(engine, language)
    m = _EDGE_VOICE.match(voice)
    if engine == "edge":
        return (
            voice
            if m
            else default_voice("edge", voice if re.match(r"^[a-z]{2,3}(-[a-z]{2})?$", voice) else language)
        )
    if m:
        return default_voice(engine, m.group(1))
    if engine == "piper" and re.match(r"^[a-z]{2,3}(-[a-z]{2})?$", voice):
        return "joe"
    return voice


def offline_engine(language: str) -> str:
    """The offline engine for a language: piper for English when installed, else espeak."""
    from . import piper

    return "piper" if language.lower().startswith("en") and piper.available() else "espeak"


class ChunkCache:
    """Synthesised chunks on disk: `<cache>/tts/ab/abcdef….wav` plus a `.json` with the word times."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) / "tts" if root else None

    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.root is not None
        d = self.root / key[:2]
        return d / f"{key}.wav", d / f"{key}.json"

    def get(self, key: str) -> Chunk | None:
        if self.root is None:
            return None
        wav, meta = self._paths(key)
        if not (wav.is_file() and meta.is_file()):
            return None
        try:
            samples, rate = read_wav(wav)
            words = [tuple(w) for w in json.loads(meta.read_text(encoding="utf-8"))["words"]]
        except (OSError, ValueError, KeyError, EOFError):
            return None  # a damaged entry is re-synthesised, not trusted
        return Chunk(samples, rate, words)  # type: ignore[arg-type]

    def put(self, key: str, chunk: Chunk) -> None:
        if self.root is None:
            return
        wav, meta = self._paths(key)
        write_wav(wav, chunk.samples, chunk.rate)
        tmp = meta.with_name(meta.name + ".part")
        tmp.write_text(json.dumps({"words": chunk.words}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(meta)


def _engine_call(settings: SpeechSettings, workdir: Path) -> Callable[[str], Awaitable[Chunk]]:
    e = settings.engine
    if e == "espeak":
        from . import espeak

        wpm = int(175 * (1 + settings.rate / 100))
        kw: dict[str, Any] = dict(
            voice=settings.voice,
            rate=max(80, min(450, wpm)),
            pitch=max(0, min(100, 50 + settings.pitch)),
            volume=max(0, min(200, 100 + settings.volume)),
        )
        return lambda text: asyncio.to_thread(espeak.synth_chunk, text, **kw)
    if e == "piper":
        from . import piper

        return lambda text: asyncio.to_thread(
            piper.synth_chunk, text, voice=settings.voice, rate=settings.rate, volume=settings.volume
        )
    if e == "edge":
        from . import edge

        kw = dict(
            voice=settings.voice,
            rate=f"{settings.rate:+d}%",
            volume=f"{settings.volume:+d}%",
            pitch=f"{settings.pitch:+d}Hz",
        )
        return lambda text: edge.synth_chunk(text, workdir, **kw)  # type: ignore[arg-type]
    raise NodeError(f"unknown TTS engine '{e}' (choose one of {', '.join(ENGINES)})", field="params.engine")


async def synthesize(
    text: str,
    settings: SpeechSettings,
    out_path: Path,
    *,
    cache_dir: Path | None = None,
    pause: float = 0.35,
    on_progress: Callable[[float], None] | None = None,
) -> Speech:
    """Speak `text` with one engine into a WAV at `out_path`.

    Raises:
        NodeError: unknown engine or voice, or no audio.
        OSError / asyncio.TimeoutError / aiohttp.ClientError: the edge service is unreachable.
    """
    sentences = split_sentences(text)
    if not sentences:
        raise NodeError("nothing to speak: the text has no words", field="params.text")
    cache = ChunkCache(cache_dir)
    call = _engine_call(settings, out_path.parent)
    chunks: list[Chunk] = []
    made = reused = 0
    for i, sentence in enumerate(sentences):
        key = settings.key(sentence)
        chunk = cache.get(key)
        if chunk is None:
            chunk = await call(sentence)
            cache.put(key, chunk)
            made += 1
        else:
            reused += 1
        chunks.append(chunk)
        if on_progress:
            on_progress((i + 1) / len(sentences))
    joined = join_chunks(chunks, pause=pause)
    write_wav(out_path, joined.samples, joined.rate)
    duration = joined.duration
    words = clean_timings(joined.words, duration)
    expected = [w.text for w in split_words(" ".join(sentences))]
    if [w for w, _, _ in words] != expected:  # pragma: no cover - guards the invariant captions rely on
        raise NodeError("internal error: word timings do not match the written words")
    return Speech(out_path, duration, words, settings.engine, settings.voice, made, reused)


async def list_voices(engine: str | None = None, language: str | None = None) -> list[dict[str, Any]]:
    """Voices of one engine (or all), optionally only those for a language ("ru", "en-US").

    The edge list needs the network; when it is unreachable an `OSError` propagates.
    """
    out: list[dict[str, Any]] = []
    engines = [engine] if engine else ["espeak", "piper", "edge"]
    for e in engines:
        if e == "espeak":
            from . import espeak

            items = await asyncio.to_thread(espeak.list_voices)
            out += [
                {
                    "engine": "espeak",
                    "name": v["language"],
                    "language": v["language"],
                    "description": v["name"],
                }
                for v in items
            ]
        elif e == "piper":
            from . import piper

            out += [
                {
                    "engine": "piper",
                    "name": v["name"],
                    "language": v["language"],
                    "description": f"installed: {v['installed']}",
                }
                for v in piper.list_voices()
            ]
        elif e == "edge":
            from . import edge

            items = await edge.list_voices()
            out += [
                {"engine": "edge", "name": v["name"], "language": v["language"], "description": v["gender"]}
                for v in items
            ]
        else:
            raise NodeError(f"unknown TTS engine '{e}' (choose one of espeak, piper, edge)", field="engine")
    if language:
        want = language.lower().replace("_", "-")
        out = [v for v in out if v["language"].lower().replace("_", "-").startswith(want)]
    return out
