"""Input.Text, Input.Background and Input.Asset on real files."""

from __future__ import annotations

import pytest

import fenta
from fenta.media.probe import probe

SMALL = "overrides: {canvas: {width: 180, height: 320}}\n"


def _run(write, body: str, name: str = "wf.yaml"):
    result = fenta.run(fenta.load(write(name, SMALL + "nodes:\n" + body)))
    return result


def test_text_splits_scenes_at_blank_lines_and_joins_the_narration(write):
    r = _run(write, '  t: {type: Input.Text, params: {text: "One two.\\n\\nThree   four."}}\n')
    out = r.outputs["t"]
    assert out["text"] == "One two. Three four."
    assert [s["narration"] for s in out["scenes"]] == ["One two.", "Three four."]


def test_background_gradients_are_stills_the_size_of_the_canvas(write):
    r = _run(write, "  bg: {type: Input.Background, params: {style: gradient, count: 2}}\n")
    clips = r.outputs["bg"]["clips"]
    assert len(clips) == 2 and all(c["kind"] == "image" for c in clips)
    info = probe(clips[0]["path"])
    assert (info.width, info.height) == (180, 320)


def test_background_colors_need_no_file(write):
    r = _run(write, "  bg: {type: Input.Background, params: {style: color, colors: ['#112233'], count: 3}}\n")
    assert [c["color"] for c in r.outputs["bg"]["clips"]] == ["#112233"] * 3


def test_a_bad_background_colour_is_a_validation_error(write):
    with pytest.raises(fenta.SpecError, match="not a hex colour"):
        fenta.load(write("wf.yaml", "nodes:\n  bg: {type: Input.Background, params: {colors: [blue]}}\n"))


def test_assets_are_probed_and_audio_only_files_go_to_the_audio_port(write, make_media):
    make_media("clip.mp4", "testsrc2=s=320x240:d=1.5", "-pix_fmt", "yuv420p")
    make_media("photo.jpg", "testsrc2=s=640x480:d=1", "-frames:v", "1")
    make_media("music.wav", "sine=d=2")
    r = _run(write, "  a: {type: Input.Asset, params: {paths: [clip.mp4, photo.jpg, music.wav]}}\n")
    out = r.outputs["a"]
    assert [c["kind"] for c in out["clips"]] == ["video", "image"]
    assert out["clips"][0]["duration"] == pytest.approx(1.5, abs=0.1)
    assert out["audio"]["duration"] == pytest.approx(2.0, abs=0.05)


def test_a_corrupt_asset_fails_the_node_naming_the_file(write, tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    r = _run(write, "  a: {type: Input.Asset, params: {paths: [broken.mp4]}}\n")
    assert r.status == "failed"
    assert "broken.mp4" in r.error and "node 'a'" in r.error and "not a readable media file" in r.error


def test_a_changed_asset_file_is_not_served_from_the_cache(write, make_media):
    make_media("clip.mp4", "testsrc2=s=320x240:d=1", "-pix_fmt", "yuv420p")
    body = "  a: {type: Input.Asset, params: {paths: [clip.mp4]}}\n"
    _run(write, body)
    make_media("clip.mp4", "testsrc2=s=320x240:d=2", "-pix_fmt", "yuv420p")
    r = _run(write, body)
    assert r.nodes["a"] == "completed"
    assert r.outputs["a"]["clips"][0]["duration"] == pytest.approx(2.0, abs=0.1)
