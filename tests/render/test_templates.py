"""Shipped templates and template validation."""

from __future__ import annotations

import pytest

from fenta.render.templates import TemplateError, list_templates, resolve_template

REQUIRED = {
    "karaoke-bold": (1080, 1920),
    "clean-captions": (1080, 1920),
    "explainer-16x9": (1920, 1080),
    "square": (1080, 1080),
}


@pytest.mark.parametrize("name,size", REQUIRED.items())
def test_the_four_shipped_templates_resolve_with_their_aspect(name, size):
    t = resolve_template(name)
    assert (t["canvas"]["width"], t["canvas"]["height"]) == size
    assert t["title_card"] is not None and t["loudness"] == -14 and t["music"]["ducking"]


def test_shipped_templates_use_cut_fade_and_two_more_xfade_kinds():
    kinds = {resolve_template(n)["transition"]["type"] for n in list_templates()}
    assert {"cut", "fade"} <= kinds and len(kinds - {"cut", "fade"}) >= 2


def test_an_invalid_field_is_named_with_its_file(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("canvas: {width: 10}\ntransition: {type: spin}\nprogress_bar: {color: red}\n")
    with pytest.raises(TemplateError) as e:
        resolve_template(str(bad))
    text = str(e.value)
    assert (
        "mine.yaml" in text
        and "canvas.width" in text
        and "transition.type" in text
        and "progress_bar.color" in text
    )


def test_a_logo_needs_a_path_or_text():
    with pytest.raises(TemplateError) as e:
        resolve_template("square", {"logo": {"position": "top-left"}})
    assert "logo" in str(e.value)


def test_overrides_change_any_field():
    t = resolve_template("square", {"canvas": {"width": 200}, "logo": {"text": "@me"}})
    assert t["canvas"]["width"] == 200 and t["canvas"]["height"] == 1080 and t["logo"]["text"] == "@me"


def _luminance(hex_color: str) -> float:
    def lin(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def test_shipped_karaoke_highlights_stay_bright_enough_to_read_on_blue_and_dark_footage():
    # A light-blue highlight (#4FC3F7) vanished into blue backgrounds in the explainer.
    for name in list_templates():
        subs = resolve_template(name)["subtitles"]
        if subs["karaoke"]:
            assert _luminance(subs["highlight_color"]) >= 0.55, name
            assert subs["highlight_color"] != subs["color"], name
