"""The small workflow the publish tests run: a render of a second or two, then one publish node."""

from __future__ import annotations

import json

from fenta.config import Settings
from fenta.engine.store import JobStore

WF = """
version: 1
name: clip
template: square
overrides: {{canvas: {{width: 160, height: 160, fps: 25}}}}
vars: {{script: "Hi there."}}
nodes:
  script: {{type: Input.Text, params: {{text: "${{vars.script}}"}}}}
  voice: {{type: Voice.TTS, params: {{engine: espeak}}, inputs: {{text: script.text}}}}
  backdrop: {{type: Input.Background, params: {{style: gradient, count: 1}}}}
  timeline: {{type: Timeline, inputs: {{clips: backdrop.clips, voice: voice.audio}}}}
  render:
    {{type: Render, params: {{profile: canvas, preset: ultrafast}}, inputs: {{timeline: timeline.timeline}}}}
  {node}: {{type: {type}, params: {params}, inputs: {inputs}}}
{extra}"""


def publish_workflow(
    write,
    type_: str,
    params: str = '{title: "Octopus facts", tags: [ocean]}',
    inputs: str = "{video: render.video}",
    node: str = "post",
    extra: str = "",
) -> str:
    """The workflow's path: the render, then a `type_` node named `node` (and `extra`, more node lines)."""
    text = WF.format(node=node, type=type_, params=params, inputs=inputs, extra=extra)
    return str(write("wf.yaml", text))


def run_json(cli, wf: str, *args: str) -> dict:
    """`fenta run WF -o out --yes --json ARGS` that must succeed; its JSON answer."""
    result = cli("run", wf, "-o", "out", "--yes", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def events_of(job_id: str, type_: str) -> list[dict]:
    """The data of the job's events of one type, from the store under FENTA_HOME."""
    store = JobStore(Settings.from_env().db_path)
    try:
        return [e.data for e in store.read_events(job_id=job_id, types=[type_])]
    finally:
        store.close()
