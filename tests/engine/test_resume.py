"""Resume and failures recorded where they happen: --reload after fixing the file,
a --preview job resumed as a preview, node errors outside `run`, and errors while publishing."""

from __future__ import annotations

import json

import pytest
from pydantic import Field

import fenta
from fenta.engine.store import JobStore
from fenta.media.probe import probe
from fenta.nodes.base import Node, Params, Ports, registry
from fenta.types import Artifact
from tests.engine.conftest import runs


class _Text(Ports):
    text: str


class _Long(Ports):
    after: str = Field(min_length=100)


class Wrong(Node):
    """Returns a plain dict instead of its Outputs model."""

    type = "Test.Wrong"
    Outputs = _Text

    async def run(self, ctx, params, inputs):
        return {"text": "not a model"}


class Strict(Node):
    """Takes only long text: a short one fails input validation when the node is about to run."""

    type = "Test.Strict"
    Inputs = _Long
    Outputs = _Text

    async def run(self, ctx, params, inputs):  # pragma: no cover - never reached
        return _Text(text=inputs.after)


class _FileParams(Params):
    text: str = "x"
    log: bool = False


class _FileOut(Ports):
    artifacts: list[Artifact]


class File(Node):
    """Leaves a text file for the user, published as NAME.txt (and with `log`, NAME.log)."""

    type = "Test.File"
    Params = _FileParams
    Outputs = _FileOut

    async def run(self, ctx, params, inputs):
        p = ctx.workdir / "out.txt"
        p.write_text(params.text, encoding="utf-8")
        arts = [Artifact(kind="text", path=ctx.keep(p), name="{name}.txt")]
        if params.log:
            log = ctx.workdir / "out.log"
            log.write_text(f"made {params.text}", encoding="utf-8")
            arts.append(Artifact(kind="log", path=ctx.keep(log), name="{name}.log"))
        return _FileOut(artifacts=arts)


for _cls in (Wrong, Strict, File):
    registry.register(_cls)


def _node_row(home, job_id: str, node: str) -> dict:
    store = JobStore(home / "fenta.db")
    try:
        return {r["node_id"]: r for r in store.node_runs(job_id)}[node]
    finally:
        store.close()


def test_resume_reload_reads_the_fixed_file_and_keeps_the_finished_nodes(write, fenta_home, tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    text = f"""
nodes:
  a: {{type: Test.Sleep, params: {{seconds: 0, label: a}}}}
  b: {{type: Test.Sleep, params: {{seconds: 0, label: b, fail_flag: "{flag}"}}, inputs: {{after: a.text}}}}
"""
    path = write("wf.yaml", text)
    failed = fenta.run(fenta.load(path))
    assert failed.status == "failed"
    path.write_text(
        text.replace(f', fail_flag: "{flag}"', ", label: b2").replace("label: b, label: b2", "label: b2"),
        encoding="utf-8",
    )
    resumed = fenta.resume(failed.job_id, reload=True)
    assert resumed.status == "completed" and resumed.job_id == failed.job_id
    assert resumed.nodes == {"a": "cached", "b": "completed"}
    assert resumed.outputs["b"]["text"] == "ab2"
    assert runs(fenta_home, "a") == 1


def test_resume_without_reload_runs_the_stored_workflow_not_the_edited_file(write, fenta_home, tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    text = f"""
nodes:
  b: {{type: Test.Sleep, params: {{seconds: 0, label: b, fail_flag: "{flag}"}}}}
"""
    path = write("wf.yaml", text)
    failed = fenta.run(fenta.load(path))
    path.write_text(text.replace(f', fail_flag: "{flag}"', ""), encoding="utf-8")
    assert fenta.resume(failed.job_id).status == "failed"


def test_resume_reload_keeps_the_var_values_the_job_was_run_with(write, fenta_home, tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    text = f"""
vars: {{who: default}}
nodes:
  a: {{type: Test.Sleep, params: {{seconds: 0, label: "${{vars.who}}"}}}}
  b: {{type: Test.Sleep, params: {{seconds: 0, label: b, fail_flag: "{flag}"}}, inputs: {{after: a.text}}}}
"""
    path = write("wf.yaml", text)
    failed = fenta.run(fenta.load(path, vars={"who": "given"}))
    path.write_text(text.replace(f', fail_flag: "{flag}"', ""), encoding="utf-8")
    resumed = fenta.resume(failed.job_id, reload=True)
    assert resumed.outputs["b"]["text"] == "givenb" and resumed.nodes["a"] == "cached"


def test_resume_reload_of_a_still_invalid_file_is_a_spec_error(write, fenta_home, tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    path = write(
        "wf.yaml",
        f'nodes:\n  b: {{type: Test.Sleep, params: {{seconds: 0, label: b, fail_flag: "{flag}"}}}}\n',
    )
    failed = fenta.run(fenta.load(path))
    path.write_text("nodes:\n  b: {type: Test.Slep}\n", encoding="utf-8")
    with pytest.raises(fenta.SpecError, match="Test.Slep"):
        fenta.resume(failed.job_id, reload=True)


def test_a_wrong_node_return_marks_the_node_failed_and_emits_node_failed(write, fenta_home):
    events = []
    result = fenta.run(
        fenta.load(write("wf.yaml", "nodes:\n  w: {type: Test.Wrong}\n")), on_event=events.append
    )
    assert result.status == "failed" and "expected its Outputs" in result.error
    assert _node_row(fenta_home, result.job_id, "w")["status"] == "failed"
    assert [e.node for e in events if e.kind == "node.failed"] == ["w"]


def test_inputs_that_fail_validation_mark_the_node_failed_and_emit_node_failed(write, fenta_home):
    events = []
    wf = fenta.load(
        write(
            "wf.yaml",
            """
nodes:
  a: {type: Test.Sleep, params: {seconds: 0, label: short}}
  s: {type: Test.Strict, inputs: {after: a.text}}
""",
        )
    )
    result = fenta.run(wf, on_event=events.append)
    assert result.status == "failed" and "inputs do not fit" in result.error
    row = _node_row(fenta_home, result.job_id, "s")
    assert row["status"] == "failed" and "inputs do not fit" in row["error"]
    assert [e.node for e in events if e.kind == "node.failed"] == ["s"]


def test_a_file_that_cannot_be_published_fails_the_job_with_the_reason_not_as_interrupted(
    write, fenta_home, tmp_path
):
    out = tmp_path / "out"

    def block_output(ev):
        if ev.kind == "node.started":
            out.write_text("a file where the folder should be")

    result = fenta.run(
        fenta.load(write("wf.yaml", "nodes:\n  f: {type: Test.File}\n")), out=out, on_event=block_output
    )
    assert result.status == "failed" and "cannot write" in result.error
    store = JobStore(fenta_home / "fenta.db")
    job = store.get_job(result.job_id)
    # Retryable (another attempt only publishes again), but fenta.run makes no retries unless asked: dead.
    assert job.status == "dead" and job.error != "interrupted" and job.retryable is True


def test_a_job_that_failed_to_publish_publishes_on_resume(write, fenta_home, tmp_path):
    out = tmp_path / "out"

    def block_output(ev):
        if ev.kind == "node.started":
            out.write_text("in the way")

    failed = fenta.run(
        fenta.load(write("wf.yaml", "nodes:\n  f: {type: Test.File, params: {text: hello}}\n")),
        out=out,
        on_event=block_output,
    )
    out.unlink()
    resumed = fenta.resume(failed.job_id)
    assert resumed.status == "completed" and resumed.nodes == {"f": "cached"}
    assert (out / "wf.txt").read_text() == "hello"


def test_the_sdk_names_the_files_with_name(write, tmp_path):
    result = fenta.run(
        fenta.load(write("wf.yaml", "nodes:\n  f: {type: Test.File}\n")), out=tmp_path / "o", name="mine"
    )
    assert result.artifacts == {"text": str(tmp_path / "o" / "mine.txt")}


def test_a_resumed_job_replaces_its_own_half_published_files_instead_of_renaming(
    write, fenta_home, tmp_path, monkeypatch
):
    import os

    out = tmp_path / "out"
    real_replace = os.replace

    def disk_full_on_the_log(src, dst, *a, **kw):
        if str(dst).endswith("wf.log"):
            raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst, *a, **kw)

    wf = fenta.load(write("wf.yaml", "nodes:\n  f: {type: Test.File, params: {text: mine, log: true}}\n"))
    monkeypatch.setattr(os, "replace", disk_full_on_the_log)
    failed = fenta.run(wf, out=out)
    monkeypatch.setattr(os, "replace", real_replace)
    assert failed.status == "failed" and "No space left" in failed.error
    assert (out / "wf.txt").exists() and not (out / "wf.log").exists()
    resumed = fenta.resume(failed.job_id)
    assert resumed.artifacts == {"text": str(out / "wf.txt"), "log": str(out / "wf.log")}
    assert sorted(p.name for p in out.iterdir()) == ["wf.log", "wf.txt"]


PREVIEW = """
version: 1
name: clip
template: karaoke-bold
overrides: {{canvas: {{width: 720, height: 1280, fps: 10}}}}
nodes:
  script: {{type: Input.Text, params: {{text: "Hi there."}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  pics: {{type: Input.Asset, params: {{paths: [{pic}]}}}}
  timeline: {{type: Timeline, inputs: {{clips: pics.clips, voice: voice.audio}}}}
  render:
    type: Render
    params: {{profile: canvas, preset: ultrafast}}
    inputs: {{timeline: timeline.timeline}}
"""


def test_a_resumed_preview_job_renders_a_preview_under_the_preview_name(write, make_media, tmp_path):
    pic = tmp_path / "pic.png"
    pic.write_bytes(b"not a picture yet")  # exists (so the workflow loads) but fails when probed
    wf = fenta.load(write("wf.yaml", PREVIEW.format(pic=pic)))
    failed = fenta.run(wf, out=tmp_path / "out", preview=True)
    assert failed.status == "failed" and failed.nodes.get("render") is None
    pic.unlink()
    make_media("pic.png", "testsrc2=s=320x240:d=1", "-frames:v", "1")
    resumed = fenta.resume(failed.job_id)
    assert resumed.status == "completed"
    assert resumed.video == str(tmp_path / "out" / "clip.preview.mp4")
    assert probe(resumed.video).height == 640  # the 360p draft of a 720x1280 canvas


def test_two_render_nodes_publish_two_videos_named_after_their_nodes(write, tmp_path):
    wf = fenta.load(
        write(
            "wf.yaml",
            """
version: 1
name: clip
template: square
overrides: {canvas: {width: 120, height: 120, fps: 10}}
nodes:
  script: {type: Input.Text, params: {text: "Hi."}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
  backdrop: {type: Input.Background, params: {style: gradient, count: 1}}
  timeline: {type: Timeline, inputs: {clips: backdrop.clips, voice: voice.audio}}
  small:
    type: Render
    params: {profile: canvas, preset: ultrafast, crf: 40}
    inputs: {timeline: timeline.timeline}
  big:
    type: Render
    params: {profile: canvas, preset: ultrafast, crf: 20}
    inputs: {timeline: timeline.timeline}
""",
        )
    )
    result = fenta.run(wf, out=tmp_path / "out")
    assert result.status == "completed"
    assert result.video == str(tmp_path / "out" / "clip-small.mp4")
    assert result.artifacts["big.video"] == str(tmp_path / "out" / "clip-big.mp4")
    assert json.loads((tmp_path / "out" / "clip-big.timeline.json").read_text())["canvas"]
    assert (tmp_path / "out" / "clip-small.mp4").stat().st_size != (
        tmp_path / "out" / "clip-big.mp4"
    ).stat().st_size
