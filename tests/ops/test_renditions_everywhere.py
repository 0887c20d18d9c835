"""Every rendition of Render.renditions is an artifact of the job: listed by `fenta jobs show`, in batch
reports, and pushed to the hosted project's Storage by sync (real tiny renders, the fake Supabase)."""

from __future__ import annotations

import json

from tests.fakes.supabase import supabase_fake  # noqa: F401

WF = """
version: 1
name: cuts
template: square
overrides: {canvas: {width: 160, height: 160, fps: 10}}
nodes:
  script: {type: Input.Text, params: {text: "Hello from every aspect."}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
  subs: {type: Subtitle, inputs: {words: voice.words}}
  backdrop: {type: Input.Background, params: {style: gradient, count: 1}}
  timeline: {type: Timeline, inputs: {clips: backdrop.clips, voice: voice.audio, subtitles: subs.track}}
  render:
    type: Render
    params:
      profile: canvas
      preset: ultrafast
      renditions: [{aspect: "1:1"}, {aspect: "9:16"}, {aspect: "16:9"}]
    inputs: {timeline: timeline.timeline}
"""


def test_jobs_show_lists_every_rendition(cli, write, tmp_path):
    r = cli("run", str(write("cuts.yaml", WF)), "-o", "out", "--json")
    assert r.exit_code == 0, r.output
    job = json.loads(r.stdout)["job_id"]
    shown = json.loads(cli("jobs", "show", job, "--json").stdout)
    paths = {a["kind"]: a["path"] for a in shown["artifacts"]}
    assert paths["video"].endswith("cuts.mp4") and paths["video-9x16"].endswith("cuts-9x16.mp4")
    assert paths["video-16x9"].endswith("cuts-16x9.mp4") and paths["srt-16x9"].endswith("cuts-16x9.srt")
    assert "cuts-9x16.mp4" in cli("jobs", "show", job).stdout


def test_a_batch_report_names_each_rows_renditions(cli, write, tmp_path):
    write("cuts.yaml", WF)
    write("rows.csv", "name\none\n")
    r = cli(
        "batch", "run", "cuts.yaml", "rows.csv", "-o", "out", "--report", "report.json", "--junit", "r.xml"
    )
    assert r.exit_code == 0, r.output
    (row,) = json.loads((tmp_path / "report.json").read_text())["rows"]
    assert row["video"].endswith("one.mp4")
    assert set(row["renditions"]) == {"9x16", "16x9"} and row["renditions"]["16x9"].endswith("one-16x9.mp4")
    assert "video 16x9: " in (tmp_path / "r.xml").read_text()


def test_sync_pushes_every_renditions_files(cli, write, supabase_fake):
    r = cli("run", str(write("cuts.yaml", WF)), "-o", "out", "--sync", "--json")
    assert r.exit_code == 0, r.output
    job = json.loads(r.stdout)["job_id"]
    [row] = supabase_fake.rows("jobs")
    assert row["video_path"] == f"renders/{job}/cuts.mp4"
    for name, ctype in (
        ("cuts-16x9.mp4", "video/mp4"),
        ("cuts-9x16.mp4", "video/mp4"),
        ("cuts-16x9.jpg", "image/jpeg"),
    ):
        assert supabase_fake.object(f"renders/{job}/{name}")[1] == ctype
    assert supabase_fake.object(f"renders/{job}/cuts-16x9.srt") is not None
