"""Word-timing cleanup: exactly one ordered, non-overlapping entry per written word, within the audio."""

from __future__ import annotations

import random

import pytest

from fenta.tts.words import MIN_WORD_SECONDS, align_events, clean_timings, split_words, tokens_to_events

VOCAB = [
    "hello",
    "world,",
    "2026",
    "3.5%",
    "U.S.A.",
    "well-known",
    "Dr.",
    "—",
    "...",
    "привет,",
    "т.е.",
    "мир!",
    "e-mail",
    "(note)",
    "42",
    "ok?",
]


def check_invariants(text: str, words: list[tuple[str, float, float]], duration: float) -> None:
    assert [w for w, _, _ in words] == [w.text for w in split_words(text)]
    for _, s, e in words:
        assert 0 <= s <= e <= duration + 1e-9
    for (_, _, e), (_, s2, _) in zip(words, words[1:]):
        assert e <= s2 + 1e-9


def test_split_words_keeps_numbers_abbreviations_and_hyphenated_words_whole():
    assert [w.text for w in split_words("In 2026 the U.S.A. lab, a well-known place... (yes)!")] == [
        "In",
        "2026",
        "the",
        "U.S.A.",
        "lab,",
        "a",
        "well-known",
        "place...",
        "(yes)!",
    ]


def test_punctuation_only_tokens_join_the_word_before_them():
    assert [w.text for w in split_words("stop — now , = : & | ; go")] == ["stop —", "now , = : & | ;", "go"]


def test_an_opening_bracket_or_quote_on_its_own_joins_the_word_after_it():
    assert [w.text for w in split_words("he said « hello » ( see )")] == [
        "he",
        "said",
        "« hello »",
        "( see )",
    ]


def test_a_dialogue_dash_after_a_sentence_end_joins_the_next_sentence():
    assert [w.text for w in split_words("— Привет, — сказал он. — Да.")] == [
        "— Привет, —",
        "сказал",
        "он.",
        "— Да.",
    ]


@pytest.mark.parametrize("seed", range(20))
def test_every_non_space_character_of_a_random_text_is_in_exactly_one_word_in_order(seed):
    rng = random.Random(seed)
    text = "  ".join(
        rng.choice(VOCAB + ["🎉", "{y}", "%{pts}", "a\\b", ",", "=", "«", "»", "(", "\n"])
        for _ in range(rng.randint(1, 30))
    )
    words = split_words(text)
    assert "".join(w.text for w in words).replace(" ", "") == ("".join(text.split()) if words else "")
    assert all(text[w.start_char : w.end_char].split() == w.text.split() for w in words)


def test_several_events_inside_one_number_count_once_and_the_next_word_keeps_its_own_time():
    text = "Year 2026 begins"
    events = [(0, 0.0), (5, 0.4), (5, 0.7), (6, 0.9), (10, 1.5)]
    words = align_events(text, events, 2.0)
    assert [(w, s) for w, s, _ in words] == [("Year", 0.0), ("2026", 0.4), ("begins", 1.5)]


def test_repeated_events_at_the_same_position_do_not_shift_later_words():
    words = align_events("one two three", [(0, 0.1), (0, 0.1), (4, 0.5), (4, 0.5), (8, 0.9)], 1.5)
    assert [s for _, s, _ in words] == [0.1, 0.5, 0.9]


def test_a_word_without_an_event_after_an_abbreviation_takes_the_abbreviations_surplus_event():
    # espeak reports "и" at the position of the abbreviation before it.
    text = "U.S.A. и мир"
    events = [(0, 1.0), (0, 1.2), (1, 1.4), (1, 1.7), (9, 2.0)]
    words = align_events(text, events, 3.0)
    assert [s for _, s, _ in words] == [1.0, 1.7, 2.0]


def test_words_with_no_events_at_all_are_spread_over_the_audio():
    words = align_events("a bb ccc", [], 3.0)
    check_invariants("a bb ccc", words, 3.0)
    assert words[0][1] == 0 and words[-1][2] == 3.0


def test_edge_tokens_map_to_written_words_even_when_split_case_changed_or_expanded():
    text = "Hello, well-known U.S.A. in 2026 — yes!"
    tokens = [
        ("hello", 0.1),
        ("well", 0.5),
        ("known", 0.7),
        ("U.S.A.", 1.0),
        ("in", 1.5),
        ("twenty", 1.6),
        ("2026", 1.7),
        ("yes", 2.5),
    ]
    words = align_events(text, tokens_to_events(text, tokens), 3.0)
    assert [(w, s) for w, s, _ in words] == [
        ("Hello,", 0.1),
        ("well-known", 0.5),
        ("U.S.A.", 1.0),
        ("in", 1.5),
        ("2026 —", 1.6),
        ("yes!", 2.5),
    ]


def test_clean_timings_squeezes_words_that_overrun_the_audio_back_inside_it():
    words = clean_timings([("a", 0.0, 0.5), ("b", 0.4, 2.5), ("c", 3.0, 3.5)], 2.0)
    check_invariants("a b c", words, 2.0)
    assert all(e - s >= MIN_WORD_SECONDS - 1e-9 for _, s, e in words)


@pytest.mark.parametrize("seed", range(40))
def test_random_texts_and_messy_events_always_give_one_ordered_entry_per_written_word(seed):
    rng = random.Random(seed)
    text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(1, 25)))
    if not split_words(text):
        text += " word"
    duration = rng.uniform(0.05, 10.0)
    events = []
    for _ in range(rng.randint(0, 40)):
        events.append((rng.randint(-2, len(text) + 3), rng.uniform(-0.5, duration + 1.0)))
    words = align_events(
        text, events, duration, speech_end=rng.choice([None, duration * rng.uniform(0.5, 1.0)])
    )
    check_invariants(text, words, duration)
