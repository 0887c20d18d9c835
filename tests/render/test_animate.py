"""Caption animations (template `subtitles.animation`): libass override tags in the ASS file, checked in the
file and on frames libass really draws (FFmpeg's subtitles filter over a plain colour)."""

from __future__ import annotations

import subprocess

import numpy as np
import pysubs2
import pytest
from PIL import Image

from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render.captions import write_captions
from fenta.render.fonts import FONTS_DIR
from fenta.template import list_templates, resolve_template
from fenta.types import Word

ENGLISH = "Octopuses have three hearts and blue blood in their veins".split()
RUSSIAN = "У осьминога три сердца и голубая кровь в его венах".split()
YELLOW = (255, 212, 0)


def timed(texts: list[str]) -> list[Word]:
    return [
        Word(text=t, start=round(0.2 + 0.45 * i, 2), end=round(0.55 + 0.45 * i, 2))
        for i, t in enumerate(texts)
    ]


def captions(tmp_path, animation: str, template: str = "karaoke-bold", words=None, **style):
    tpl = resolve_template(template, {"subtitles": {"animation": animation, **style}})
    ass = tmp_path / f"{template}-{animation}.ass"
    write_captions(words or timed(ENGLISH), tpl, ass, tmp_path / "c.srt", keywords=["hearts", "кровь"])
    return tpl, ass, pysubs2.load(str(ass))


def frame(tpl, ass, at: float, out) -> Image.Image:
    """The frame libass draws at `at` seconds, on a third of the canvas."""
    w, h = tpl["canvas"]["width"] // 3 // 2 * 2, tpl["canvas"]["height"] // 3 // 2 * 2
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=0x335577:s={w}x{h}:d=6:r=30",
            "-vf",
            f"subtitles=filename={ass}:fontsdir={FONTS_DIR}",
            "-ss",
            f"{at}",
            "-frames:v",
            "1",
            str(out),
        ],
        check=True,
    )
    return Image.open(out).convert("RGB")


def near(px, colour, tol=40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(px, colour))


def count(img: Image.Image, colour, tol=40) -> int:
    pixels = np.asarray(img).astype(int)
    return int((np.abs(pixels - np.array(colour)).max(axis=2) <= tol).sum())


def test_pop_scales_the_spoken_word_in_and_keeps_unsaid_words_invisible(tmp_path):
    tpl, ass, subs = captions(tmp_path, "pop")
    first = subs.events[0].text
    assert first.startswith("{\\alpha&HFF&\\fscy40\\t(0,70,\\alpha&H00&\\fscy115)\\t(70,140,\\fscy100)")
    assert "{\\alpha&HFF&}HAVE{\\r}" in first  # said next: laid out, unseen
    early, late = frame(tpl, ass, 0.3, tmp_path / "a.png"), frame(tpl, ass, 0.75, tmp_path / "b.png")
    white = (255, 255, 255)
    assert count(early, YELLOW) > 200 and count(early, white) < 50  # "OCTOPUSES" lit, "HAVE" not drawn yet
    assert count(late, white) > 200  # now "OCTOPUSES" is said (white) and "HAVE" is lit


def test_highlight_puts_the_spoken_word_on_a_box_where_libass_draws_it(tmp_path):
    tpl, ass, subs = captions(tmp_path, "highlight")
    boxes = [e for e in subs.events if "\\p1" in e.text and "\\pos(" in e.text]
    assert len(boxes) == len(ENGLISH)
    img = frame(tpl, ass, 1.25, tmp_path / "h.png")  # "THREE" is spoken
    yellow = [
        (x, y) for y in range(img.height) for x in range(img.width) if near(img.getpixel((x, y)), YELLOW, 30)
    ]
    xs, ys = [p[0] for p in yellow], [p[1] for p in yellow]
    box_w, box_h = max(xs) - min(xs), max(ys) - min(ys)
    assert 50 < box_w < 130 and 25 < box_h < 50  # one word's box at a third of 1080x1920
    dark = sum(
        1 for x in range(min(xs), max(xs)) for y in range(min(ys), max(ys)) if sum(img.getpixel((x, y))) < 150
    )
    assert dark > 150  # the word itself, in the outline colour, on the box


def test_chunk_shows_at_most_chunk_words_at_a_time_each_group_scaling_in(tmp_path):
    _, _, subs = captions(tmp_path, "chunk", template="clean-captions", chunk_words=2)
    texts = [e.text for e in subs.events if e.layer == 1]
    plain = [pysubs2.SSAEvent(text=t).plaintext.split() for t in texts]
    assert max(len(p) for p in plain) == 2 and all("\\N" not in t for t in texts)
    assert sum(t.startswith("{\\fscx85\\fscy85\\t(0,90,\\fscx100\\fscy100)}") for t in texts) == len(texts)


def test_keywords_take_the_emphasis_colour_in_any_script(tmp_path):
    _, _, subs = captions(tmp_path, "none", template="clean-captions", emphasis_color="#FF4FA0")
    assert "{\\c&HA04FFF&}hearts{\\r}" in " ".join(e.text for e in subs.events)
    _, _, ru = captions(
        tmp_path, "none", template="clean-captions", words=timed(RUSSIAN), emphasis_color="#FF4FA0"
    )
    assert "{\\c&HA04FFF&}кровь{\\r}" in " ".join(e.text for e in ru.events)


def test_without_an_emphasis_colour_keywords_look_like_other_words(tmp_path):
    _, _, subs = captions(tmp_path, "none", template="clean-captions")
    assert "\\c&H" not in " ".join(e.text for e in subs.events)


@pytest.mark.parametrize("template", sorted(list_templates()))
@pytest.mark.parametrize("animation", ["none", "pop", "highlight", "chunk"])
def test_every_template_animates_english_and_cyrillic_scripts(tmp_path, template, animation):
    for words in (timed(ENGLISH), timed(RUSSIAN)):
        tpl, ass, subs = captions(
            tmp_path, animation, template=template, words=words, emphasis_color="#FF4FA0"
        )
        shown = " ".join(pysubs2.SSAEvent(text=e.text).plaintext for e in subs.events if e.layer == 1)
        assert all(w.text.upper() in shown.upper() for w in words)
        assert subs.info["PlayResX"] == str(tpl["canvas"]["width"])
