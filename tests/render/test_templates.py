"""Shipped templates and template validation."""

from __future__ import annotations

import pytest

from fenta.render.templates import TemplateError, list_templates, resolve_template

REQUIRED = {"karaoke-bold": (1080, 1920), "clean-captions": (1080, 1920), "explainer-16x9": (1920, 1080), "square": (1080, 1080)}


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
    assert "mine.yaml" in text and "canvas.width" in text and "transition.type" in text and "progress_bar.color" in text


def test_a_logo_needs_a_path_or_text():
    with pytest.raises(TemplateError) as e:
        resolve_template("square", {"logo": {"position": "top-left"}})
    assert "logo" in str(e.value)


def test_overrides_change_any_field():
    t = resolve_template("square", {"canvas": {"width": 200}, "logo": {"text": "@me"}})
    assert t["canvas"]["width"] == 200 and t["canvas"]["height"] == 1080 and t["logo"]["text"] == "@me"
