"""Shim for ../shared/peer-bench/make_inputs.py: `synth(text, voice, rate)` backed by fenta's espeak engine.

make_inputs.py imports a module of this name that its folder does not ship;
put bench/ (and the repo root) on PYTHONPATH when running it.
"""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path


def synth(text: str, voice: str = "en-us", rate: int = 175) -> tuple[bytes, int, list[dict]]:
    """Speak `text`: (16-bit mono PCM, sample rate, [{word, start, end}])."""
    from fenta.tts.espeak import synthesize

    with tempfile.TemporaryDirectory() as d:
        res = synthesize(text, Path(d) / "v.wav", voice=voice, rate=rate)
        with wave.open(str(res.path), "rb") as w:
            pcm, sr = w.readframes(w.getnframes()), w.getframerate()
    words = [{"word": w[0], "start": float(w[1]), "end": float(w[2])} for w in res.words]
    return pcm, sr, words
