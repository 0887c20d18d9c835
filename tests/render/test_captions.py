"""Phrase grouping, font resolution and line fitting, checked on real libass output."""

from __future__ import annotations

import subprocess

import numpy as np
import pysubs2
import pytest

from fenta.errors import FontError
from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render.captions import write_captions
from fenta.render.fonts import DEFAULT_FONT, FONTS_DIR, FontMeasure, resolve_font
from fenta.render.phrases import Layout, group_phrases, wrap_title
from fenta.render.srt import clamp_captions, read_srt
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
    phrases = group_phrases(
        words_of("one two three four five six seven"), {**STYLE, "words_per_line": 2, "lines": 2}
    )
    assert all(len(p.words) <= 4 and all(len(line) <= 2 for line in p.lines) for p in phrases)
    assert [w.text for p in phrases for w in p.words] == "one two three four five six seven".split()


def test_a_phrase_breaks_after_a_sentence_end_and_after_a_comma():
    phrases = group_phrases(words_of("Yes. We went there, then home"), STYLE)
    assert texts(phrases) == [["Yes."], ["We went there,"], ["then home"]]


def test_a_long_pause_starts_a_new_phrase():
    words = [
        Word(text="before", start=0.0, end=0.3),
        Word(text="the", start=0.3, end=0.5),
        Word(text="pause", start=2.0, end=2.4),
    ]
    assert texts(group_phrases(words, STYLE)) == [["before the"], ["pause"]]


def test_a_lone_trailing_word_joins_the_phrase_before_it_when_it_fits():
    phrases = group_phrases(words_of("one two three four"), {**STYLE, "words_per_line": 3, "lines": 2})
    assert texts(phrases) == [["one two", "three four"]]


def test_two_line_phrases_are_balanced_instead_of_leaving_a_lone_word():
    layout = Layout(words_per_line=4, max_chars=40, lines=2, max_width=float("inf"))
    lines = layout.split(words_of("alpha beta gamma delta epsilon"))
    assert [len(line) for line in lines] in ([3, 2], [2, 3])


def test_character_limit_wraps_lines():
    phrases = group_phrases(
        words_of("internationalisation is extraordinarily long"),
        {**STYLE, "max_chars_per_line": 22, "lines": 2},
    )
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
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"color={background}:s={w}x{h}:d=1",
            "-ss",
            str(at),
            "-frames:v",
            "1",
            "-vf",
            f"subtitles={ass_path}:fontsdir={FONTS_DIR}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
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
    phrases = group_phrases(
        words_of("They change colour in a fraction of a second, even though they are probably colour blind."),
        style,
    )
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
    strip = frame[
        top + 5 : bottom - 4, left + 1 : left + 3
    ]  # the box's left padding, clear of glyphs and corners
    assert strip.max() - strip.min() <= 3, "the box shade changes from line to line"
    h = template["canvas"]["height"]
    assert (
        bottom <= h - int(h * template["safe_zone"]["bottom"]) + 1
    )  # the box, not just the text, stays inside


def test_title_lines_are_balanced_and_fit_the_measured_width():
    text, size = wrap_title("Octopuses have three hearts and blue blood.", 64, 842)
    lines = text.split("\n")
    assert (
        size == 64 and len(lines) == 2 and min(len(line.split()) for line in lines) >= 3
    )  # no lone "blood."
    m = FontMeasure(resolve_font(DEFAULT_FONT, bold=True), 100)
    em = FontMeasure(m.path, size / m.em_per_size)
    assert all(em.width(line) <= 842 for line in lines)


def test_a_title_too_long_for_four_lines_shrinks():
    text, size = wrap_title("Осьминоги — удивительные существа с тремя сердцами и голубой кровью.", 120, 400)
    assert size < 120 and len(text.split("\n")) <= 4


# ---------------------------------------------------------------- every character kept


def _ink(frame: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(frame > 100)
    return frame[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] > 100


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ink masks aligned at their top-left corners."""
    h, w = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    pa, pb = np.zeros((h, w), bool), np.zeros((h, w), bool)
    pa[: a.shape[0], : a.shape[1]], pb[: b.shape[0], : b.shape[1]] = a, b
    return (pa & pb).sum() / (pa | pb).sum()


@pytest.mark.parametrize("text", ["{y}", "%{pts}", "a\\{b}", "C:\\New{1}"])
def test_burned_captions_draw_braces_and_backslashes_as_the_text_has_them(tmp_path, text):
    # libass reads "{...}" as override tags: "{y}" vanished, and look-alike braces drew empty boxes.
    from PIL import Image, ImageDraw, ImageFont

    template = small_template("karaoke-bold", size=50, karaoke=False, uppercase=False, outline=0, shadow=0)
    write_captions([Word(text=text, start=0.0, end=1.0)], template, tmp_path / "c.ass", tmp_path / "c.srt")
    burned = _ink(_burn(tmp_path / "c.ass"))
    font = resolve_font(DEFAULT_FONT, bold=True)
    plain = Image.new("L", (600, 200))  # the same string drawn by FreeType with no subtitle parsing at all
    ImageDraw.Draw(plain).text(
        (20, 20),
        text,
        fill=255,
        font=ImageFont.truetype(str(font), round(50 * FontMeasure(font, 50).em_per_size)),
    )
    assert _overlap(burned, _ink(np.asarray(plain))) > 0.7


def test_the_srt_keeps_every_word_verbatim_including_braces_backslashes_and_markup(tmp_path):
    words = words_of("{y} %{pts} a\\b <z> \\N end")
    write_captions(
        words,
        small_template("karaoke-bold", words_per_line=2, max_chars_per_line=40),
        tmp_path / "c.ass",
        tmp_path / "c.srt",
    )
    cues = read_srt(tmp_path / "c.srt")
    assert " ".join(text.replace("\n", " ") for _, _, text in cues) == "{y} %{pts} a\\b <z> \\N end"


def test_a_phrase_the_next_would_replace_sooner_than_the_minimum_joins_it():
    words = [
        Word(text="Т.", start=0.0, end=0.15),
        Word(text="е.", start=0.15, end=0.27),
        Word(text="это", start=0.27, end=0.46),
    ]
    assert texts(group_phrases(words, {**STYLE, "min_seconds": 0.6})) == [["Т. е. это"]]


def test_short_words_merge_past_the_words_per_line_limit_while_the_line_still_fits():
    words = words_of("Т. е. это важно, и так далее", step=0.15)
    phrases = group_phrases(
        words, {**STYLE, "words_per_line": 3, "max_chars_per_line": 18, "min_seconds": 0.6}
    )
    assert texts(phrases)[0] == ["Т. е. это важно,"]


def test_clamped_captions_end_by_the_video_end_and_keep_their_text(tmp_path):
    words = [
        Word(text="{y}", start=0.0, end=0.5),
        Word(text="tail.", start=1.0, end=1.4),
        Word(text="gone", start=2.5, end=2.9),
    ]
    write_captions(
        words, small_template("karaoke-bold", words_per_line=1), tmp_path / "c.ass", tmp_path / "c.srt"
    )
    ass, srt = clamp_captions(tmp_path / "c.ass", tmp_path / "c.srt", 1.5, tmp_path / "out")
    assert read_srt(srt) == [(0, 800, "{y}"), (1000, 1500, "tail.")]
    events = pysubs2.load(str(ass))
    assert max(e.end for e in events) == 1500 and "\\{Y\\}" in events[0].text
