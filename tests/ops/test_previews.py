"""Template previews: an offline sample render and a contact sheet (a real PNG, checked with Pillow)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from fenta.media.probe import probe
from fenta.ops.previews import (
    ANIMATION_SAMPLES,
    ANIMATION_TEMPLATE,
    COLUMNS,
    DOCS_DIR,
    ROWS,
    frame_times,
    sheet_size,
)
from fenta.template import list_templates, resolve_template

TEMPLATES = sorted(list_templates())
#: One template in the default suite; the others render in the slow run.
FAST = "karaoke-bold"


def _check_sheet(path: str, template: dict) -> Image.Image:
    with Image.open(path) as img:
        img.verify()  # a whole, uncorrupted PNG
    img = Image.open(path)
    assert img.format == "PNG" and img.size == sheet_size(template)
    return img


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n == FAST else pytest.mark.slow) for n in TEMPLATES]
)
def test_each_templates_preview_renders_with_a_contact_sheet(cli, name, tmp_path):
    result = cli("templates", "preview", name, "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.stdout)
    template = resolve_template(name)
    info = probe(p["video"])
    assert info.has_video and info.has_audio and 5 <= info.duration <= 15
    c = template["canvas"]
    assert abs(info.width / info.height - c["width"] / c["height"]) < 0.01
    img = _check_sheet(p["sheet"], template)
    assert len(p["frames"]) == COLUMNS * ROWS and p["frames"] == sorted(p["frames"])
    # Six different pictures, not one frame repeated: the tiles' pixel data differ.
    w, h = (img.size[0] - 6 * (COLUMNS + 1)) // COLUMNS, (img.size[1] - 6 * (ROWS + 1)) // ROWS
    rgb = img.convert("RGB")
    tiles = {
        rgb.crop((6 + i * (w + 6), 6 + j * (h + 6), 6 + i * (w + 6) + w, 6 + j * (h + 6) + h)).tobytes()
        for i in range(COLUMNS)
        for j in range(ROWS)
    }
    assert len(tiles) == COLUMNS * ROWS
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == [
        f"{name}.mp4",
        f"{name}.png",
    ]  # no leftovers


def test_the_frames_show_the_title_card_and_the_middle_of_each_transition():
    timeline = {
        "duration": 9.0,
        "canvas": {"fps": 30},
        "transition": {"type": "fade", "seconds": 0.5},
        "segments": [{"start": 0.0}, {"start": 3.0}, {"start": 6.0}],
    }
    times = frame_times(timeline)
    assert len(times) == 6 and times[0] == 1.0 and 3.25 in times and 6.25 in times
    assert max(times) > 8.0 and min(b - a for a, b in zip(times, times[1:])) >= 0.4


def test_an_unknown_template_is_exit_2_before_anything_renders(cli, tmp_path):
    result = cli("templates", "preview", "nope", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "unknown template 'nope'" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_docs_show_a_small_current_contact_sheet_of_every_template(name):
    path = DOCS_DIR / f"{name}.png"
    assert path.stat().st_size < 150 * 1024
    _check_sheet(str(path), resolve_template(name))
    assert f"(templates/{name}.png)" in (DOCS_DIR.parent / "templates.md").read_text(encoding="utf-8")


def test_a_template_file_path_previews_under_its_file_name(cli, tmp_path):
    mine = tmp_path / "my templates" / "мой шаблон.yaml"
    mine.parent.mkdir()
    mine.write_text(
        "canvas: {width: 360, height: 640, fps: 24}\ntransition: {type: fade, seconds: 0.4}\n",
        encoding="utf-8",
    )
    result = cli("templates", "preview", str(mine), "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.stdout)
    assert p["template"] == "мой шаблон" and p["video"].endswith("мой шаблон.mp4")
    assert probe(p["video"]).fps == pytest.approx(24)
    _check_sheet(p["sheet"], resolve_template(str(mine)))


def test_a_missing_template_file_is_named_as_a_file_not_found(cli, tmp_path):
    result = cli("templates", "preview", str(tmp_path / "mine.yaml"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and f"template file not found: {tmp_path / 'mine.yaml'}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_is_a_file_is_exit_2_in_one_line_before_anything_renders(
    cli, tmp_path, fenta_home
):
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("templates", "preview", "square", "-o", str(tmp_path / "notes.txt"))
    assert result.exit_code == 2 and "notes.txt is a file, not a folder" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "internal error" not in result.output
    assert not (fenta_home / "previews").exists()


def test_an_animation_preview_is_named_after_it(cli, tmp_path):
    result = cli("templates", "preview", "karaoke-bold", "--animation", "pop", "-o", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.stdout)
    assert p["video"].endswith("karaoke-bold-pop.mp4") and p["sheet"].endswith("karaoke-bold-pop.png")
    _check_sheet(p["sheet"], resolve_template("karaoke-bold"))


def test_an_unknown_animation_is_exit_2_naming_the_field(cli, tmp_path):
    result = cli("templates", "preview", "square", "--animation", "wobble", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "subtitles.animation" in result.stderr and "wobble" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("style", ANIMATION_SAMPLES)
def test_the_docs_show_each_caption_animation(style):
    path = DOCS_DIR / f"animation-{style}.png"
    assert path.stat().st_size < 150 * 1024
    _check_sheet(str(path), resolve_template(ANIMATION_TEMPLATE))
    docs = (DOCS_DIR.parent / "templates.md").read_text(encoding="utf-8")
    assert f"(templates/animation-{style}.png)" in docs
