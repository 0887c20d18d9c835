"""Timeline + Music + Render nodes in a real run, `fenta run --preview` and `fenta render timeline.json`."""

from __future__ import annotations

import json

from fenta.media.probe import probe

WORKFLOW = """
version: 1
name: clip
template: {template}
overrides: {{canvas: {{width: {w}, height: {h}, fps: 15}}, title_card: {{seconds: 1}}}}
nodes:
  script:
    type: Input.Text
    params: {{text: "Three hearts. Blue blood, and eight clever arms."}}
  voice:
    type: Voice.TTS
    params: {{engine: espeak, voice: en-us}}
    inputs: {{text: script.text}}
  subs:
    type: Subtitle
    inputs: {{words: voice.words}}
  pics:
    type: Input.Asset
    params: {{paths: [a.png, b.mp4]}}
  bed:
    type: Music
    params: {{path: music.wav, level_db: -20}}
  timeline:
    type: Timeline
    inputs:
      clips: pics.clips
      voice: voice.audio
      subtitles: subs.track
      music_bed: bed.music
      script: script.text
  render:
    type: Render
    params: {{profile: canvas, preset: ultrafast}}
    inputs: {{timeline: timeline.timeline}}
"""


def setup(make_media, write, template="square", w=240, h=240):
    make_media("a.png", "testsrc2=s=400x300:d=1", "-frames:v", "1")
    make_media("b.mp4", "testsrc2=s=320x240:r=25:d=1", "-pix_fmt", "yuv420p")
    make_media("music.wav", "sine=f=330:d=1")
    return write("wf.yaml", WORKFLOW.format(template=template, w=w, h=h))


def test_a_run_writes_mp4_srt_ass_thumbnail_and_timeline(make_media, write, cli, tmp_path):
    wf = setup(make_media, write)
    r = cli("run", str(wf), "-o", "out", "--json")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["clip.ass", "clip.jpg", "clip.mp4", "clip.srt", "clip.timeline.json"]
    tl = json.loads((tmp_path / "out" / "clip.timeline.json").read_text())
    assert tl["music"]["level_db"] == -20 and tl["music"]["loop"] is True
    assert tl["title"] == "Three hearts."
    info = probe(tmp_path / "out" / "clip.mp4")
    assert (info.width, info.height) == (240, 240) and info.has_audio


def test_preview_renders_a_small_draft_cached_apart_from_the_full_render(make_media, write, cli, tmp_path):
    wf = setup(make_media, write, "karaoke-bold", 720, 1280)
    assert cli("run", str(wf), "-o", "draft", "--preview").exit_code == 0
    assert probe(tmp_path / "draft" / "clip.preview.mp4").height == 640
    assert cli("run", str(wf), "-o", "full").exit_code == 0
    assert probe(tmp_path / "full" / "clip.mp4").height == 1280


def test_fenta_render_re_renders_a_saved_timeline(make_media, write, cli, tmp_path):
    wf = setup(make_media, write)
    assert cli("run", str(wf), "-o", "out").exit_code == 0
    r = cli(
        "render", str(tmp_path / "out" / "clip.timeline.json"), "-o", "again", "--profile", "canvas", "--json"
    )
    assert r.exit_code == 0, r.output
    first, second = probe(tmp_path / "out" / "clip.mp4"), probe(tmp_path / "again" / "clip.mp4")
    assert (second.width, second.height) == (first.width, first.height)
    assert abs(second.duration - first.duration) < 0.1
    assert (tmp_path / "again" / "clip.jpg").exists()


def test_fenta_render_refuses_a_timeline_whose_media_is_gone(make_media, write, cli, tmp_path):
    wf = setup(make_media, write)
    assert cli("run", str(wf), "-o", "out").exit_code == 0
    tl_path = tmp_path / "out" / "clip.timeline.json"
    tl = json.loads(tl_path.read_text())
    tl["segments"][0]["path"] = str(tmp_path / "vanished.png")
    tl["segments"][0]["kind"] = "image"
    tl_path.write_text(json.dumps(tl))
    r = cli("render", str(tl_path), "-o", "again")
    assert r.exit_code == 2 and "vanished.png" in r.output
    assert not (tmp_path / "again" / "clip.mp4").exists()


def test_music_node_refuses_a_file_without_audio_by_name(make_media, write, cli, tmp_path):
    wf = setup(make_media, write)
    (tmp_path / "music.wav").write_bytes(b"not audio at all")
    r = cli("run", str(wf), "-o", "out")
    assert r.exit_code != 0 and "music.wav" in r.output


def test_fenta_render_into_the_runs_folder_keeps_the_jobs_video_and_takes_the_next_name(
    make_media, write, cli, tmp_path
):
    wf = setup(make_media, write)
    assert cli("run", str(wf), "-o", "out").exit_code == 0
    before = (tmp_path / "out" / "clip.mp4").read_bytes()
    r = cli("render", str(tmp_path / "out" / "clip.timeline.json"), "-o", "out", "--preview", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["video"] == str(tmp_path / "out" / "clip.preview.mp4")
    r = cli(
        "render", str(tmp_path / "out" / "clip.timeline.json"), "-o", "out", "--profile", "360p", "--json"
    )
    assert json.loads(r.stdout)["video"] == str(tmp_path / "out" / "clip-2.mp4")
    assert (tmp_path / "out" / "clip.mp4").read_bytes() == before


def test_fenta_render_to_a_folder_under_a_file_is_bad_input_before_rendering(
    make_media, write, cli, tmp_path
):
    wf = setup(make_media, write)
    assert cli("run", str(wf), "-o", "out").exit_code == 0
    r = cli("render", str(tmp_path / "out" / "clip.timeline.json"), "-o", str(tmp_path / "wf.yaml" / "again"))
    assert r.exit_code == 2 and "wf.yaml is a file" in r.stderr
