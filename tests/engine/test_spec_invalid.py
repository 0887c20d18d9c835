"""Invalid workflows: every problem is reported, each with its place (file, line, node, field)."""

from __future__ import annotations

import pytest

import fenta
from fenta.errors import SpecError

BASE = "version: 1\nnodes:\n"

CASES = {
    "unknown node type": (
        BASE + "  a: {type: Input.Txt, params: {text: hi}}\n",
        ["unknown node type 'Input.Txt'", "did you mean 'Input.Text'", "node 'a'", "field 'type'", ":3"],
    ),
    "unknown param": (
        BASE + "  a: {type: Input.Text, params: {text: hi, colour: red}}\n",
        ["unknown param", "node 'a'", "params.colour"],
    ),
    "missing required param": (
        BASE + "  a: {type: Input.Asset}\n",
        ["required param is missing", "params.paths"],
    ),
    "script given neither as text nor as a file": (
        BASE + "  a: {type: Input.Text}\n",
        ["give the narration as 'text' or a file holding it as 'path'", "node 'a'", "field 'params'"],
    ),
    "bad param value": (
        BASE + "  a: {type: Input.Background, params: {count: many}}\n",
        ["valid integer", "params.count", "node 'a'"],
    ),
    "param out of range": (
        BASE + "  a: {type: Input.Background, params: {count: 0}}\n",
        ["greater than or equal to 1", "params.count"],
    ),
    "bad enum value": (
        BASE + "  a: {type: Voice.TTS, params: {engine: loud, text: hi}}\n",
        ["'auto', 'espeak'", "params.engine"],
    ),
    "unknown input port": (
        BASE + "  a: {type: Input.Text, params: {text: hi}}\n  b: {type: Voice.TTS, inputs: {txt: a.text}}\n",
        ["unknown input port 'txt'", "node 'b'", "inputs.txt"],
    ),
    "unknown output port": (
        BASE
        + "  a: {type: Input.Text, params: {text: hi}}\n  b: {type: Voice.TTS, inputs: {text: a.words}}\n",
        ["has no output 'words'", "node 'b'", "inputs.text"],
    ),
    "unknown source node": (
        BASE + "  b: {type: Voice.TTS, inputs: {text: ghost.text}}\n",
        ["unknown node 'ghost'", "inputs.text"],
    ),
    "malformed reference": (
        BASE + "  b: {type: Voice.TTS, inputs: {text: ghost}}\n",
        ["must look like 'node.port'", "inputs.text"],
    ),
    "port type mismatch": (
        BASE
        + "  a: {type: Input.Text, params: {text: hi}}\n  s: {type: Subtitle, inputs: {words: a.text}}\n",
        ["type mismatch", "gives text", "takes words", "node 's'"],
    ),
    "missing required input": (
        BASE + "  s: {type: Subtitle}\n",
        ["required input 'words'", "node 's'", "inputs.words"],
    ),
    "cycle": (
        BASE
        + (
            "  a: {type: Test.Sleep, inputs: {after: c.text}}\n"
            "  b: {type: Test.Sleep, inputs: {after: a.text}}\n"
            "  c: {type: Test.Sleep, inputs: {after: b.text}}\n"
        ),
        ["cycle:", "a -> b -> c -> a"],
    ),
    "unknown variable": (
        BASE + "  a: {type: Input.Text, params: {text: '${vars.nope}'}}\n",
        ["unknown variable '${vars.nope}'", "node 'a'"],
    ),
    "environment interpolation refused": (
        BASE + "  a: {type: Input.Text, params: {text: '${env.HOME}'}}\n",
        ["'${env.HOME}' cannot be interpolated", "node 'a'"],
    ),
    "yaml syntax error": (
        "version: 1\nnodes:\n  a: {type: Input.Text, params: {text: hi}\n  b: [\n",
        ["invalid YAML", ":"],
    ),
    "no nodes": ("version: 1\nnodes: {}\n", ["at least one node", "field 'nodes'"]),
    "unsupported version": (
        "version: 7\nnodes:\n  a: {type: Input.Text, params: {text: hi}}\n",
        ["unsupported version 7", "field 'version'"],
    ),
    "unknown top-level key": (
        "version: 1\nnodez: {}\nnodes:\n  a: {type: Input.Text, params: {text: hi}}\n",
        ["unknown top-level key 'nodez'", ":2"],
    ),
    "bad node id": (
        BASE + "  a.b: {type: Input.Text, params: {text: hi}}\n",
        ["node ids may use letters", "node 'a.b'"],
    ),
    "unknown template": (
        "template: nope\n" + BASE + "  a: {type: Input.Text, params: {text: hi}}\n",
        ["unknown template 'nope'", "karaoke-bold"],
    ),
    "bad template override": (
        "overrides: {canvas: {fps: fast}}\n" + BASE + "  a: {type: Input.Text, params: {text: hi}}\n",
        ["canvas.fps", "valid integer"],
    ),
    "node-specific param check": (
        BASE + "  s: {type: Script.Transform, params: {mode: translate}}\n",
        ["needs params.language", "field 'params.language'", "node 's'", ":3"],
    ),
    "two connections to a single port": (
        BASE
        + (
            "  a: {type: Input.Text, params: {text: hi}}\n"
            "  b: {type: Input.Text, params: {text: ho}}\n"
            "  v: {type: Voice.TTS, inputs: {text: [a.text, b.text]}}\n"
        ),
        ["takes one connection", "inputs.text"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_invalid_workflow_names_the_problem_and_its_place(name, write):
    text, expected = CASES[name]
    path = write("bad.yaml", text)
    with pytest.raises(SpecError) as e:
        fenta.load(path)
    msg = str(e.value)
    assert "bad.yaml" in msg
    for part in expected:
        assert part in msg, f"{part!r} missing from: {msg}"


def test_every_problem_is_reported_at_once(write):
    path = write(
        "bad.yaml",
        BASE
        + (
            "  a: {type: Input.Txt}\n"
            "  b: {type: Input.Text, params: {text: hi, x: 1}}\n"
            "  s: {type: Subtitle}\n"
        ),
    )
    with pytest.raises(SpecError) as e:
        fenta.load(path)
    assert len(e.value.problems) == 3


def test_problems_carry_the_line_of_the_offending_node(write):
    path = write("bad.yaml", BASE + "  a: {type: Input.Text, params: {text: hi}}\n  b: {type: Input.Txt}\n")
    with pytest.raises(SpecError) as e:
        fenta.load(path)
    (p,) = e.value.problems
    assert (p.node, p.field, p.line) == ("b", "type", 4)


def test_the_cycle_path_is_printed(write):
    text, _ = CASES["cycle"]
    with pytest.raises(SpecError) as e:
        fenta.load(write("c.yaml", text))
    assert any(p.message == "cycle: a -> b -> c -> a" for p in e.value.problems)
