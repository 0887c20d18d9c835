"""Aspects: a rendition's canvas (same short side), the template's per-aspect values, and a timeline laid
out again for another canvas."""

from __future__ import annotations

import pysubs2
import pytest

from fenta.errors import TemplateError
from fenta.render.aspects import (
    aspect_canvas,
    aspect_suffix,
    parse_aspect,
    rendition_timeline,
    template_for_aspect,
)
from fenta.render.captions import write_captions
from fenta.render.timeline import build_timeline
from fenta.template import resolve_template
from fenta.types import Word


def test_a_renditions_canvas_keeps_the_short_side_and_frame_rate():
    canvas = {"width": 1080, "height": 1920, "fps": 25}
    assert aspect_canvas(canvas, "16:9") == {"width": 1920, "height": 1080, "fps": 25}
    assert aspect_canvas(canvas, "1:1") == {"width": 1080, "height": 1080, "fps": 25}
    assert aspect_canvas(canvas, "4:5") == {"width": 1080, "height": 1350, "fps": 25}
    assert aspect_suffix("16:9") == "16x9"


@pytest.mark.parametrize("bad", ["wide", "16/9", "0:1", "9:1", "100:1"])
def test_an_aspect_must_be_w_colon_h_within_4_to_1(bad):
    with pytest.raises(ValueError):
        parse_aspect(bad)


def test_a_templates_aspect_values_are_merged_over_its_own():
    t = resolve_template("karaoke-bold", {"aspects": {"1:1": {"subtitles": {"color": "#00FF00"}}}})
    square = template_for_aspect(t, "1:1")
    assert (
        square["subtitles"]["color"] == "#00FF00" and square["subtitles"]["size"] == 84
    )  # shipped 1:1 value
    assert square["subtitles"]["font"] == t["subtitles"]["font"] and "aspects" not in square


def test_an_aspect_value_that_does_not_fit_names_its_field():
    with pytest.raises(TemplateError) as e:
        resolve_template("square", {"aspects": {"16:9": {"subtitles": {"size": 5000}}}})
    assert "aspects.16:9.subtitles.size" in str(e.value)


@pytest.mark.parametrize(
    "over,says", [({"wide": {}}, "'wide' is not an aspect"), ({"1:1": {"canvas": {}}}, "'canvas'")]
)
def test_an_aspect_key_or_a_canvas_per_aspect_is_refused(over, says):
    with pytest.raises(TemplateError) as e:
        resolve_template("square", {"aspects": over})
    assert says in str(e.value)


def test_a_timeline_saved_without_caption_words_gets_its_captions_moved_to_the_new_canvas(tmp_path):
    t = resolve_template("karaoke-bold")
    words = [
        Word(text=w, start=i * 0.5, end=i * 0.5 + 0.4) for i, w in enumerate("one two three four".split())
    ]
    ass, srt = tmp_path / "c.ass", tmp_path / "c.srt"
    write_captions(words, t, ass, srt)
    tl = build_timeline(clips=[], voice=None, template=t, duration=2.0, subtitles=(str(ass), str(srt)))
    wide = rendition_timeline(tl, "16:9", tmp_path / "r")
    subs = pysubs2.load(wide.subtitles_ass)
    assert (subs.info["PlayResX"], subs.info["PlayResY"]) == ("1920", "1080") and wide.canvas["width"] == 1920
    assert rendition_timeline(tl, "9:16", tmp_path / "same") is tl
