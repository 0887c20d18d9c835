"""Reframing around a focus point: a source cropped to another aspect keeps its `focus` in frame (centre by
default), for clips and stills alike; Input.Asset's `focus` reaches the clips it makes."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import fenta
from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render.timeline import build_timeline
from fenta.types import Clip
from tests.render._media import do_render, template

RED, BLUE = np.array([220, 20, 20]), np.array([20, 20, 220])


def _split_source(make_media, still: bool):
    """A 7:3 picture: a red square on the left, a white strip, a blue square on the right."""
    graph = (
        "color=c=0xDC1414:s=180x180:d=1[a];color=white:s=60x180:d=1[b];color=c=0x1414DC:s=180x180:d=1[c];"
        "[a][b][c]hstack=3"
    )
    if still:
        return make_media("split.png", graph, "-frames:v", "1")
    return make_media(
        "split.mp4", graph.replace("d=1", "d=2"), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-t", "2"
    )


def _mean_colour(video) -> np.ndarray:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-ss",
            "0.5",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-vf",
            "scale=32:32",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(float).mean(axis=0)


def _square(make_media, tmp_path, focus, still: bool):
    src = _split_source(make_media, still)
    kind = "image" if still else "video"
    clip = Clip(kind=kind, path=str(src), width=420, height=180, duration=None if still else 2.0, focus=focus)
    tpl = template("karaoke-bold", canvas={"width": 120, "height": 120, "fps": 15}, pacing={"motion": "none"})
    tl = build_timeline(clips=[clip], voice=None, template=tpl, duration=1.0)
    out = tmp_path / f"{kind}-{focus}.mp4"
    do_render(tl, out)
    return _mean_colour(out)


@pytest.mark.parametrize("still", [False, True])
def test_a_crop_keeps_the_focus_point_in_frame(make_media, tmp_path, still):
    left = _square(make_media, tmp_path, (0.0, 0.5), still)
    right = _square(make_media, tmp_path, (1.0, 0.5), still)
    middle = _square(make_media, tmp_path, None, still)
    assert np.abs(left - RED).max() < 40 and np.abs(right - BLUE).max() < 40
    assert middle[0] > 60 and middle[2] > 60 and middle[1] > 60  # the centre: red, white and blue


def test_input_asset_focus_reaches_its_clips(write, make_media):
    make_media("a.png", "color=red:s=64x36:d=1", "-frames:v", "1")
    doc = {
        "version": 1,
        "name": "f",
        "nodes": {"a": {"type": "Input.Asset", "params": {"paths": ["a.png"], "focus": [0.2, 0.7]}}},
    }
    r = fenta.run(fenta.load(write("f.json", json.dumps(doc))), out="out")
    assert r.status == "completed", r.error
    assert r.outputs["a"]["clips"][0]["focus"] == [0.2, 0.7]
