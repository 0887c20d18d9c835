"""Word times for existing narration: forced alignment or a proportional estimate.

Forced alignment uses pocketsphinx (the extra `fenta[align]`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .words import align_events, clean_timings, proportional_times, split_words

__all__ = ["sphinx_available", "forced_align", "estimate"]

_SPHINX_RATE = 16000


def sphinx_available() -> bool:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


def estimate(text: str, samples: np.ndarray, rate: int) -> list[tuple[str, float, float]]:
    """Spread the written words over the sound (leading and trailing silence excluded) by length."""
    from .audio import sound_bounds

    first, last = sound_bounds(samples, rate)
    words = split_words(text)
    spans = proportional_times(words, first, last)
    return clean_timings([(w.text, a, b) for w, (a, b) in zip(words, spans)], len(samples) / rate)


def forced_align(text: str, audio_path: Path) -> tuple[list[tuple[str, float, float]], int]:
    """Align an English transcript to its audio with pocketsphinx.

    Words the dictionary lacks (numbers, names) are left out of the alignment
    and interpolated between their neighbours.

    Returns:
        (word timings, number of written words the aligner itself placed).
    """
    from pocketsphinx import Decoder

    from .audio import decode_to_pcm

    samples = decode_to_pcm(audio_path, _SPHINX_RATE)
    duration = len(samples) / _SPHINX_RATE
    decoder = Decoder(samprate=_SPHINX_RATE, bestpath=False, loglevel="FATAL")
    written = split_words(text)
    spoken: list[tuple[int, str]] = []  # (index of written word, dictionary word)
    for i, w in enumerate(written):
        for part in re.split(r"[-–—/]", w.text):
            token = re.sub(r"[^\w']", "", part.lower()).strip("'")
            if token and decoder.lookup_word(token) is not None:
                spoken.append((i, token))
    if not spoken:
        return estimate(text, samples, _SPHINX_RATE), 0
    decoder.set_align_text(" ".join(t for _, t in spoken))
    decoder.start_utt()
    decoder.process_raw(samples.tobytes(), full_utt=True)
    decoder.end_utt()
    found = decoder.seg()
    if found is None:  # the aligner could not fit the transcript to the audio
        return estimate(text, samples, _SPHINX_RATE), 0
    segs = [
        s for s in found if s.word not in ("<s>", "</s>", "<sil>", "(NULL)") and not s.word.startswith("[")
    ]
    events: list[tuple[int, float]] = []
    k = 0
    for seg in segs:
        word = re.sub(r"\(\d+\)$", "", seg.word)
        while k < len(spoken) and spoken[k][1] != word:
            k += 1
        if k >= len(spoken):
            break
        events.append((written[spoken[k][0]].start_char, seg.start_frame / 100.0))
        k += 1
    placed = len({written_index for written_index, _ in spoken[:k]}) if events else 0
    return align_events(text, events, duration), placed
