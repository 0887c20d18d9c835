"""Offline speech with espeak-ng, loaded from the espeakng-loader wheel through ctypes.

No system package is needed. espeak-ng keeps global state, so calls are
serialised with a lock and run in a worker thread by the node.
"""

from __future__ import annotations

import ctypes
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

from ..errors import NodeError
from .words import align_events

__all__ = ["synthesize", "synth_chunk", "list_voices", "EspeakResult"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_RATE = 1
_VOLUME = 2
_PITCH = 3


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
_lock = threading.Lock()
_state: dict = {}


def _lib():
    if "lib" in _state:
        return _state["lib"], _state["rate"]
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), _INITIALIZE_DONT_EXIT
    )
    if rate <= 0:
        raise NodeError("espeak-ng could not start (its data folder is missing from espeakng-loader)")
    sink: dict = {"pcm": bytearray(), "events": []}

    def on_audio(wav, n, events):
        if n > 0:
            sink["pcm"].extend(ctypes.string_at(wav, n * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_WORD:
                sink["events"].append((e.text_position - 1, e.audio_position / 1000.0))
            i += 1
        return 0

    cb = _CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(cb)
    _state.update(lib=lib, rate=rate, cb=cb, sink=sink)
    return lib, rate


@dataclass
class EspeakResult:
    path: Path
    duration: float
    words: list[tuple[str, float, float]]


def list_voices() -> list[dict[str, str]]:
    """Every espeak-ng voice: name, identifier and language codes."""
    with _lock:
        lib, _ = _lib()
        arr = lib.espeak_ListVoices(None)
        out = []
        i = 0
        while arr[i]:
            v = arr[i].contents
            langs = v.languages[1:].split(b"\x00")[0].decode(errors="replace") if v.languages else ""
            out.append(
                {
                    "name": v.name.decode(errors="replace"),
                    "id": v.identifier.decode(errors="replace"),
                    "language": langs,
                }
            )
            i += 1
        return out


def _speech_end(pcm: bytes, rate: int, threshold: int = 300) -> float:
    """Time after which the samples stay below `threshold` (trailing silence start)."""
    import array

    samples = array.array("h")
    samples.frombytes(pcm)
    i = len(samples) - 1
    while i > 0 and abs(samples[i]) < threshold:
        i -= 1
    return (i + 1) / rate


def synth_chunk(text: str, *, voice: str = "en-us", rate: int = 175, pitch: int = 50, volume: int = 100):
    """Speak `text` into memory: a `Chunk` with one timed entry per written word."""
    import numpy as np

    from .audio import Chunk
    from .words import trim_word_ends

    pcm, events, sample_rate = _speak(text, voice=voice, rate=rate, pitch=pitch, volume=volume)
    samples = np.frombuffer(pcm, dtype=np.int16).copy()
    duration = len(samples) / sample_rate
    words = align_events(text, events, duration, speech_end=_speech_end(pcm, sample_rate))
    return Chunk(samples, sample_rate, trim_word_ends(words, samples, sample_rate))


def _speak(
    text: str, *, voice: str, rate: int, pitch: int, volume: int
) -> tuple[bytes, list[tuple[int, float]], int]:
    with _lock:
        lib, sample_rate = _lib()
        sink = _state["sink"]
        sink["pcm"].clear()
        sink["events"].clear()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise NodeError(
                f"espeak has no voice '{voice}' (see `fenta voices --engine espeak`)", field="params.voice"
            )
        lib.espeak_SetParameter(_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_VOLUME, int(volume), 0)
        data = text.encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        pcm = bytes(sink["pcm"])
        events = list(sink["events"])
    if not pcm:
        raise NodeError("espeak produced no audio for this text")
    return pcm, events, sample_rate


def synthesize(
    text: str, out_path: Path, *, voice: str = "en-us", rate: int = 175, pitch: int = 50, volume: int = 100
) -> EspeakResult:
    """Speak `text` into a mono 16-bit WAV at `out_path`.

    Args:
        voice: An espeak-ng voice or language code ("en-us", "ru", "de", ...).
        rate: Words per minute (80-450).
        pitch: 0-100.
        volume: 0-200.

    Raises:
        NodeError: unknown voice, or the engine produced no audio.
    """
    pcm, events, sample_rate = _speak(text, voice=voice, rate=rate, pitch=pitch, volume=volume)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    duration = len(pcm) / 2 / sample_rate
    words = align_events(text, events, duration, speech_end=_speech_end(pcm, sample_rate))
    return EspeakResult(out_path, duration, words)
