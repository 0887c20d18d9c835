"""Sentence chunking, the chunk cache and click-free joins (offline espeak, real audio)."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from fenta.tts import espeak
from fenta.tts.audio import Chunk, join_chunks, read_wav
from fenta.tts.speech import SpeechSettings, split_sentences, synthesize
from fenta.tts.words import split_words

TEXT = (
    "The first sentence is short. The second one, with a comma, is a little longer! Is the third a question?"
)


def test_sentences_split_at_sentence_ends_but_not_after_abbreviations():
    assert split_sentences("Dr. Smith came at 5 p.m. Then he left. Это т.е. тест. Да!") == [
        "Dr. Smith came at 5 p.m.",
        "Then he left.",
        "Это т.е. тест.",
        "Да!",
    ]


def test_a_closing_quote_after_a_sentence_end_stays_with_its_sentence():
    assert split_sentences('He said "Stop." Then he left.') == ['He said "Stop."', "Then he left."]


@pytest.mark.parametrize("seed", range(10))
def test_sentence_pieces_keep_every_character_and_hold_exactly_the_texts_words(seed):
    rng = random.Random(seed)
    vocab = [
        "Word.",
        "next",
        "—",
        ",",
        "Again!",
        "«",
        "Yes",
        "...",
        "🎉",
        "tail,",
        "(Note)",
        "=",
        "Dr.",
        "A.",
    ]
    text = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 40)))
    pieces = split_sentences(text, max_chars=rng.choice([12, 30, 400]))
    assert " ".join(pieces) == (text if split_words(text) else "")
    assert [w.text for p in pieces for w in split_words(p)] == [w.text for w in split_words(text)]


def test_a_sentence_longer_than_the_chunk_limit_is_split_at_a_comma():
    parts = split_sentences("alpha beta gamma, delta epsilon zeta eta theta", max_chars=30)
    assert parts == ["alpha beta gamma,", "delta epsilon zeta eta theta"]


def test_joined_chunks_keep_every_sample_and_shift_word_times_exactly():
    rate = 1000
    tone = (np.sin(np.arange(500) / 3) * 10000).astype(np.int16)
    a = Chunk(np.concatenate([tone, np.zeros(300, np.int16)]), rate, [("a", 0.0, 0.5)])
    b = Chunk(np.concatenate([np.zeros(200, np.int16), tone]), rate, [("b", 0.2, 0.7)])
    joined = join_chunks([a, b], pause=0.3, edge=0.05, fade=0.005)
    # a keeps its 50 ms edge, then 200 ms digital silence, then b from 50 ms before its sound.
    assert joined.words[1][1] == 0.5 + 0.05 + 0.2 + 0.05
    assert len(joined.samples) == 550 + 200 + 550
    # No step at the cut: samples at the joins are (near) zero.
    assert abs(int(joined.samples[549])) < 200 and abs(int(joined.samples[750])) < 200


def _settings(voice="en-us"):
    return SpeechSettings(engine="espeak", voice=voice)


def test_long_text_is_spoken_sentence_by_sentence_with_every_word_timed_inside_the_audio(tmp_path):
    speech = asyncio.run(synthesize(TEXT, _settings(), tmp_path / "v.wav", cache_dir=tmp_path / "cache"))
    samples, rate = read_wav(speech.path)
    assert abs(len(samples) / rate - speech.duration) < 1e-6
    assert [w for w, _, _ in speech.words] == [w.text for w in split_words(TEXT)]
    assert speech.words[-1][2] <= speech.duration
    # Sentence gaps are the pause, not the engine's long trailing silences.
    second = next(i for i, (w, _, _) in enumerate(speech.words) if w == "The" and i > 0)
    gap = speech.words[second][1] - speech.words[second - 1][2]
    assert 0.1 < gap < 0.8


def test_synthesised_sentences_are_cached_so_an_edit_re_synthesises_only_the_changed_one(
    tmp_path, monkeypatch
):
    calls = []
    real = espeak.synth_chunk

    def counting(text, **kw):
        calls.append(text)
        return real(text, **kw)

    monkeypatch.setattr(espeak, "synth_chunk", counting)
    first = asyncio.run(synthesize(TEXT, _settings(), tmp_path / "a.wav", cache_dir=tmp_path / "cache"))
    assert len(calls) == 3 and first.chunks_synthesised == 3
    again = asyncio.run(synthesize(TEXT, _settings(), tmp_path / "b.wav", cache_dir=tmp_path / "cache"))
    assert len(calls) == 3 and again.chunks_cached == 3
    assert again.words == first.words
    assert read_wav(again.path)[0].tobytes() == read_wav(first.path)[0].tobytes()
    edited = TEXT.replace("a little longer", "much longer")
    asyncio.run(synthesize(edited, _settings(), tmp_path / "c.wav", cache_dir=tmp_path / "cache"))
    assert calls[3:] == ["The second one, with a comma, is much longer!"]


def test_a_different_voice_setting_is_not_served_from_the_cache(tmp_path, monkeypatch):
    asyncio.run(synthesize("Hello there.", _settings(), tmp_path / "a.wav", cache_dir=tmp_path / "cache"))
    faster = SpeechSettings(engine="espeak", voice="en-us", rate=30)
    result = asyncio.run(synthesize("Hello there.", faster, tmp_path / "b.wav", cache_dir=tmp_path / "cache"))
    assert result.chunks_synthesised == 1


def test_russian_text_with_numbers_and_abbreviations_gets_one_entry_per_written_word(tmp_path):
    text = "В 2026 году, т.е. скоро, всё изменится. Правда?"
    speech = asyncio.run(synthesize(text, _settings("ru"), tmp_path / "ru.wav"))
    assert [w for w, _, _ in speech.words] == text.replace(",", ",").split()
    starts = [s for _, s, _ in speech.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


@pytest.mark.parametrize(
    "name",
    [
        "en-US-AriaNeural",
        "zh-CN-liaoning-XiaobeiNeural",
        "iu-Latn-CA-SiqiniqNeural",
        "en-US-AndrewMultilingualNeural",
    ],
)
def test_an_edge_voice_name_is_kept_for_edge_whatever_its_parts(name):
    from fenta.tts.speech import voice_for

    assert voice_for("edge", name, "en") == name


def test_a_regional_edge_voice_given_to_espeak_becomes_its_language():
    from fenta.tts.speech import voice_for

    assert voice_for("espeak", "zh-CN-liaoning-XiaobeiNeural", "en") == voice_for(
        "espeak", "zh-CN-XiaoxiaoNeural", "en"
    )
