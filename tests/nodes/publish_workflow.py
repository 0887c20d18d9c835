"""The small workflow the publish tests run: a render of a second or two, then one publish node."""

from __future__ import annotations

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
