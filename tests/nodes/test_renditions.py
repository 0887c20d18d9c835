"""Render.renditions: one run, every aspect. Real renders (espeak voice, word captions, title card, progress
bar) at 360p-480p, checked on the files: sizes, captions inside each canvas's safe zone, identical audio."""

from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pysubs2
import pytest

import fenta
from fenta.media.ffmpeg import ffmpeg_exe
from fenta.media.probe import probe
from fenta.render.aspects import template_for_aspect
from fenta.template import resolve_template

BACKGROUND = (0x10, 0x20, 0x30)

WF = """
version: 1
name: story
template: karaoke-bold
overrides:
  transition: {{type: cut}}
  aspects: {{"16:9": {{subtitles: {{position: bottom, lines: 1}}, safe_zone: {{bottom: 0.12}}}}}}
nodes:
  script:
    type: Input.Text
    params: {{text: "Octopuses have three hearts. Two pump blood through the gills, one through the body."}}
  voice:
    type: Voice.TTS
    params: {{engine: espeak, rate: 40}}
    inputs: {{text: script.text}}
  subs:
    type: Subtitle
    inputs: {{words: voice.words}}
  clips:
    type: Input.Background
    params: {{style: color, colors: ["#102030"], count: 2}}
  timeline:
    type: Timeline
    params: {{title: "Three hearts"}}
    inputs: {{clips: clips.clips, voice: voice.audio, subtitles: subs.track}}
  render:
    type: Render
    params: {render}
    inputs: {{timeline: timeline.timeline}}
"""

RENDITIONS = [{"aspect": "9:16"}, {"aspect": "1:1"}, {"aspect": "16:9", "profile": "480p"}]


def audio_md5(path) -> str:
    """The audio stream's packets, hashed (a copied stream hashes the same)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy", "-f", "md5", "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def frames(path, times: list[float]) -> list[np.ndarray]:
    info = probe(path)
    out = []
    for t in times:
        raw = subprocess.run(
            [
                ffmpeg_exe(),
                "-v",
                "error",
                "-ss",
                f"{t}",
                "-i",
                str(path),
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ],
            check=True,
            capture_output=True,
        ).stdout
        out.append(np.frombuffer(raw, np.uint8).reshape(info.height, info.width, 3).astype(int))
    return out


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """The three-rendition run (rendered once for the module's tests)."""
    tmp = tmp_path_factory.mktemp("renditions")
    mp = pytest.MonkeyPatch()
    mp.setenv("FENTA_HOME", str(tmp / "home"))
    mp.setenv("FENTA_MAX_RETRIES", "0")
    try:
        wf_path = tmp / "story.yaml"
        wf_path.write_text(WF.format(render=json.dumps({"profile": "360p", "renditions": RENDITIONS})))
        result = fenta.run(fenta.load(wf_path), out=str(tmp / "out"))
        yield result, tmp
    finally:
        mp.undo()


def test_each_rendition_is_a_file_of_its_own_size(story):
    result, tmp = story
    assert result.status == "completed", result.error
    names = sorted(p.name for p in (tmp / "out").iterdir())
    for stem in ("story", "story-1x1", "story-16x9"):
        assert {f"{stem}.mp4", f"{stem}.jpg", f"{stem}.srt", f"{stem}.ass"} <= set(names)
    sizes = {
        stem: (probe(tmp / "out" / f"{stem}.mp4").width, probe(tmp / "out" / f"{stem}.mp4").height)
        for stem in ("story", "story-1x1", "story-16x9")
    }
    assert sizes == {"story": (360, 640), "story-1x1": (360, 360), "story-16x9": (854, 480)}
    durations = {round(probe(tmp / "out" / f"{s}.mp4").duration, 1) for s in sizes}
    assert len(durations) == 1


def test_every_rendition_has_the_same_audio_bit_for_bit(story):
    _, tmp = story
    hashes = {audio_md5(tmp / "out" / f"{s}.mp4") for s in ("story", "story-1x1", "story-16x9")}
    assert len(hashes) == 1


@pytest.mark.parametrize("stem,aspect", [("story", "9:16"), ("story-1x1", "1:1"), ("story-16x9", "16:9")])
def test_everything_drawn_stays_inside_each_canvass_safe_zone(story, stem, aspect):
    _, tmp = story
    video = tmp / "out" / f"{stem}.mp4"
    aspects = {"16:9": {"subtitles": {"position": "bottom", "lines": 1}, "safe_zone": {"bottom": 0.12}}}
    template = resolve_template("karaoke-bold", {"aspects": aspects})
    zone = template_for_aspect(template, aspect)["safe_zone"]
    duration = probe(video).duration
    drawn_any = 0
    for img in frames(video, [0.5, duration * 0.35, duration * 0.6, duration * 0.85]):
        h, w, _ = img.shape
        drawn = np.abs(img - np.array(BACKGROUND)).max(axis=2) > 60  # text, boxes, the bar
        ys, xs = np.nonzero(drawn)
        assert len(xs) > 30  # captions (and the title card or bar) are there
        drawn_any += len(xs)
        slack = 2
        assert ys.min() >= h * zone["top"] - slack and ys.max() <= h * (1 - zone["bottom"]) + slack
        # The progress bar runs the frame's whole width on the safe zone's top line; all else keeps the sides.
        bar = max(
            2,
            round(
                template["progress_bar"]["height"]
                * w
                / template_for_aspect(template, aspect)["canvas"]["width"]
            ),
        )
        below = ys > int(h * zone["top"]) + bar + slack
        assert (
            xs[below].min() >= w * zone["left"] - slack and xs[below].max() <= w * (1 - zone["right"]) + slack
        )
    assert drawn_any


def test_captions_are_laid_out_for_each_canvas_with_the_templates_aspect_values(story):
    _, tmp = story
    tall = pysubs2.load(str(tmp / "out" / "story.ass"))
    wide = pysubs2.load(str(tmp / "out" / "story-16x9.ass"))
    square = pysubs2.load(str(tmp / "out" / "story-1x1.ass"))
    assert (tall.info["PlayResX"], tall.info["PlayResY"]) == ("1080", "1920")
    assert (square.info["PlayResX"], square.info["PlayResY"]) == ("1080", "1080")
    assert (wide.info["PlayResX"], wide.info["PlayResY"]) == ("1920", "1080")
    assert (
        tall.styles["Default"].alignment == 5 and wide.styles["Default"].alignment == 2
    )  # aspects: 16:9 bottom
    assert all("\\N" not in e.text for e in wide.events)  # aspects: 16:9 lines: 1
    assert [e.plaintext for e in tall.events][:1] and tall.events[0].start == wide.events[
        0
    ].start  # same timing


def test_every_rendition_is_an_artifact_of_the_job(story, cli):
    result, tmp = story
    kinds = set(result.artifacts)
    assert {"video", "video-1x1", "video-16x9", "thumbnail-1x1", "srt-16x9"} <= kinds
    assert result.video.endswith("story.mp4")
    digest = {
        k: hashlib.sha256(open(p, "rb").read()).hexdigest()
        for k, p in result.artifacts.items()
        if k.startswith("video")
    }
    assert len(set(digest.values())) == 3


def test_a_repeated_aspect_is_refused_naming_the_rendition(write, cli):
    path = write(
        "wf.yaml", WF.format(render=json.dumps({"renditions": [{"aspect": "1:1"}, {"aspect": "1:1"}]}))
    )
    result = cli("validate", str(path))
    assert (
        result.exit_code == 2
        and "params.renditions[1].aspect" in result.output
        and "already" in result.output
    )


def test_an_aspect_that_is_not_w_h_is_refused(write, cli):
    path = write("wf.yaml", WF.format(render=json.dumps({"renditions": [{"aspect": "wide"}]})))
    result = cli("validate", str(path))
    assert result.exit_code == 2 and "renditions" in result.output and "aspect" in result.output
