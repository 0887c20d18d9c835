"""Phrase grouping, font resolution and line fitting, checked on real libass output."""

from __future__ import annotations

import subprocess

import numpy as np
import pysubs2
import pytest

from fenta.render.captions import DEFAULT_FONT, FontError, FontMeasure, Layout, group_phrases, resolve_font, wrap_title, write_captions
from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render.captions import FONTS_DIR
from fenta.types import Word
from tests.tts._helpers import small_template

STYLE = {"words_per_line": 3, "max_chars_per_line": 40, "lines": 1, "max_seconds": 4.0, "uppercase": False}


def words_of(text: str, gap: float = 0.0, step: float = 0.3) -> list[Word]:
    out, t = [], 0.0
    for tok in text.split():
        out.append(Word(text=tok, start=round(t, 3), end=round(t + step - 0.02, 3)))
        t += step + (gap if tok == "|" else 0)
    return [w for w in out if w.text != "|"]


def texts(phrases) -> list[list[str]]:
    return [[" ".join(w.text for w in line) for line in p.lines] for p in phrases]


def test_phrases_hold_at_most_the_words_per_line_times_lines():
    phrases = group_phrases(words_of("one two three four five six seven"), {**STYLE, "words_per_line": 2, "lines": 2})
    assert all(len(p.words) <= 4 and all(len(line) <= 2 for line in p.lines) for p in phrases)
    assert [w.text for p in phrases for w in p.words] == "one two three four five six seven".split()


def test_a_phrase_breaks_after_a_sentence_end_and_after_a_comma():
    phrases = group_phrases(words_of("Yes. We went there, then home"), STYLE)
    assert texts(phrases) == [["Yes."], ["We went there,"], ["then home"]]


def test_a_long_pause_starts_a_new_phrase():
    words = [Word(text="before", start=0.0, end=0.3), Word(text="the", start=0.3, end=0.5), Word(text="pause", start=2.0, end=2.4)]
    assert texts(group_phrases(words, STYLE)) == [["before the"], ["pause"]]


def test_a_lone_trailing_word_joins_the_phrase_before_it_when_it_fits():
    phrases = group_phrases(words_of("one two three four"), {**STYLE, "words_per_line": 3, "lines": 2})
    assert texts(phrases) == [["one two", "three four"]]


def test_two_line_phrases_are_balanced_instead_of_leaving_a_lone_word():
    layout = Layout(words_per_line=4, max_chars=40, lines=2, max_width=float("inf"))
    lines = layout.split(words_of("alpha beta gamma delta epsilon"))
    assert [len(line) for line in lines] in ([3, 2], [2, 3])


def test_character_limit_wraps_lines():
    phrases = group_phrases(words_of("internationalisation is extraordinarily long"), {**STYLE, "max_chars_per_line": 22, "lines": 2})
    for p in phrases:
        for line in p.lines:
            assert len(" ".join(w.text for w in line)) <= 22


def test_the_bundled_font_is_the_default_and_has_cyrillic():
    path = resolve_font(DEFAULT_FONT, bold=True)
    assert path.parent == FONTS_DIR and "Bold" in path.name
    m = FontMeasure(path, 40)
    assert m.width("Ж") > m.width("i")  # real glyph advances, not a fallback box


def test_an_unknown_font_is_an_error_that_names_it():
    with pytest.raises(FontError) as err:
        resolve_font("Comic Nonexistent")
    assert "Comic Nonexistent" in err.value.message and "dejavu sans" in err.value.message


def _burn(ass_path, size=(360, 640), *, background: str = "black", at: float = 0.5) -> np.ndarray:
    """Render one frame of the ASS over a plain colour with libass (fontsdir = bundled fonts); gray pixels."""
    w, h = size
    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"color={background}:s={w}x{h}:d=1", "-ss", str(at), "-frames:v", "1",
         "-vf", f"subtitles={ass_path}:fontsdir={FONTS_DIR}", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    )
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(h, w)


def test_burned_captions_stay_inside_the_safe_zone_even_for_a_word_wider_than_the_frame(tmp_path):
    template = small_template("karaoke-bold", size=60, karaoke=False, uppercase=True)
    words = [Word(text="ДОСТОПРИМЕЧАТЕЛЬНОСТЕЙ", start=0.0, end=1.0)]
    result = write_captions(words, template, tmp_path / "c.ass", tmp_path / "c.srt")
    assert result.warnings and result.font_size < 60  # shrunk to fit
    frame = _burn(tmp_path / "c.ass")
    cols = np.nonzero((frame > 60).any(axis=0))[0]
    assert len(cols) > 50  # the word was drawn
    zone = template["safe_zone"]
    assert cols[0] >= int(360 * zone["left"]) - 2 and cols[-1] <= 360 - int(360 * zone["right"]) + 2


def test_burned_two_line_captions_use_the_measured_width_and_fit_the_frame(tmp_path):
    template = small_template("clean-captions")
    words = words_of("Широкая фраза из нескольких длинных русских слов для проверки переноса")
    write_captions(words, template, tmp_path / "c.ass", tmp_path / "c.srt")
    ass = pysubs2.load(str(tmp_path / "c.ass"))
    assert any("\\N" in e.text for e in ass)  # it had to wrap
    frame = _burn(tmp_path / "c.ass")
    cols = np.nonzero((frame > 200).any(axis=0))[0]
    assert len(cols) and cols[0] > 0 and cols[-1] < 359


def test_a_clause_mark_inside_a_long_sentence_ends_a_phrase():
    style = {**STYLE, "words_per_line": 3, "max_chars_per_line": 14}
    phrases = group_phrases(words_of("They change colour in a fraction of a second, even though they are probably colour blind."), style)
    for p in phrases:
        assert all("," not in w.text for w in p.words[:-1]), texts(phrases)  # never "second, even"


def test_a_sentence_too_long_for_one_phrase_is_split_before_a_conjunction_not_after():
    style = {**STYLE, "words_per_line": 4, "max_chars_per_line": 20, "lines": 2}
    phrases = group_phrases(words_of("Octopuses have three hearts and blue blood."), style)
    assert texts(phrases) == [["Octopuses have", "three hearts"], ["and blue blood."]]


def _box_frame(tmp_path, text: str, template: dict) -> np.ndarray:
    write_captions(words_of(text), template, tmp_path / "c.ass", tmp_path / "c.srt")
    size = (template["canvas"]["width"], template["canvas"]["height"])
    return _burn(tmp_path / "c.ass", size, background="gray", at=0.1)


def test_a_caption_box_is_one_even_box_behind_all_its_lines_inside_the_safe_zone(tmp_path):
    # Border style 3 boxed each line apart: lines of different widths gave a ragged box and the
    # overlap of two translucent line boxes a darker band between the lines.
    template = small_template("clean-captions")
    frame = _box_frame(tmp_path, "Octopuses have three hearts and blue blood.", template)
    bg = int(np.median(frame[:20]))
    rows = np.nonzero(((frame < bg - 20) & (frame > 5)).sum(axis=1) > 40)[0]
    cols = np.nonzero(((frame < bg - 20) & (frame > 5)).sum(axis=0) > 10)[0]
    top, bottom, left = rows[0], rows[-1], cols[0]
    assert bottom - top > 2 * template["subtitles"]["size"]  # two lines inside one box
    strip = frame[top + 5:bottom - 4, left + 1:left + 3]  # the box's left padding, clear of glyphs and corners
    assert strip.max() - strip.min() <= 3, "the box shade changes from line to line"
    h = template["canvas"]["height"]
    assert bottom <= h - int(h * template["safe_zone"]["bottom"]) + 1  # the box, not just the text, stays inside


def test_title_lines_are_balanced_and_fit_the_measured_width():
    text, size = wrap_title("Octopuses have three hearts and blue blood.", 64, 842)
    lines = text.split("\n")
    assert size == 64 and len(lines) == 2 and min(len(line.split()) for line in lines) >= 3  # no lone "blood."
    m = FontMeasure(resolve_font(DEFAULT_FONT, bold=True), 100)
    em = FontMeasure(m.path, size / m.em_per_size)
    assert all(em.width(line) <= 842 for line in lines)


def test_a_title_too_long_for_four_lines_shrinks():
    text, size = wrap_title("Осьминоги — удивительные существа с тремя сердцами и голубой кровью.", 120, 400)
    assert size < 120 and len(text.split("\n")) <= 4
