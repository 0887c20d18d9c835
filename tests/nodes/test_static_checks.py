"""Static node checks at validate time: local files exist, voices are known."""

from __future__ import annotations

import pytest

import fenta
from fenta.errors import SpecError


def problems(path, vars=None):
    with pytest.raises(SpecError) as e:
        fenta.load(path, vars=vars)
    return e.value.problems


ASSETS = """
vars: {clip: c.mp4}
nodes:
  clips:
    type: Input.Asset
    params:
      paths:
        - a.png
        - b.mp4
        - https://example.com/remote.mp4
        - "${vars.clip}"
"""


def test_every_missing_asset_file_is_its_own_problem_with_its_index_and_line(write):
    write("b.mp4", "exists")
    found = problems(write("wf.yaml", ASSETS))
    assert [(p.node, p.field, p.line) for p in found] == [
        ("clips", "params.paths[0]", 8),
        ("clips", "params.paths[3]", 11),
    ]
    assert "a.png" in found[0].message and "file not found" in found[0].message


def test_asset_paths_are_checked_after_variables_are_filled_in(write):
    write("a.png", "x")
    write("b.mp4", "x")
    write("c.mp4", "x")
    (p,) = problems(write("wf.yaml", ASSETS), vars={"clip": "gone.mp4"})
    assert p.field == "params.paths[3]" and "gone.mp4" in p.message


def test_asset_paths_are_relative_to_the_workflow_folder_not_the_current_one(write, tmp_path):
    write("a.png", "x")  # in the current folder, not beside the workflow
    (p,) = problems(
        write("flows/wf.yaml", "nodes:\n  clips: {type: Input.Asset, params: {paths: [a.png]}}\n")
    )
    assert str(tmp_path / "flows" / "a.png") in p.message


def test_an_unknown_espeak_voice_is_a_validation_problem(write):
    (p,) = problems(
        write(
            "wf.yaml",
            "nodes:\n  v: {type: Voice.TTS, params: {engine: espeak, voice: en-klingon, text: Hi}}\n",
        )
    )
    assert (p.node, p.field, p.line) == ("v", "params.voice", 2)
    assert "espeak has no voice 'en-klingon'" in p.message


def test_an_espeak_language_without_a_voice_is_checked_too(write):
    (p,) = problems(
        write("wf.yaml", "nodes:\n  v: {type: Voice.TTS, params: {engine: espeak, language: qq, text: Hi}}\n")
    )
    assert (p.field, p.message) == (
        "params.language",
        "espeak has no voice 'qq' (see `fenta voices --engine espeak`)",
    )


def test_only_the_voice_espeak_lacks_is_a_problem(write):
    known = ["en-us", "ru", "Russian", "gmw/en-US", "en-US-AriaNeural"]
    nodes = "".join(
        f"  v{i}: {{type: Voice.TTS, params: {{engine: espeak, voice: '{v}', text: Hi}}}}\n"
        for i, v in enumerate(known)
    )
    (p,) = problems(
        write(
            "wf.yaml",
            "nodes:\n"
            + nodes
            + "  bad: {type: Voice.TTS, params: {engine: espeak, voice: xx-yy, text: Hi}}\n",
        )
    )
    assert p.node == "bad"


def test_a_malformed_edge_voice_name_is_a_validation_problem(write):
    (p,) = problems(
        write("wf.yaml", "nodes:\n  v: {type: Voice.TTS, params: {engine: edge, voice: Aria, text: Hi}}\n")
    )
    assert p.field == "params.voice" and "not an edge voice name" in p.message


def test_only_malformed_edge_names_are_problems_and_no_network_is_used(write):
    good = ["en-US-AriaNeural", "zh-CN-liaoning-XiaobeiNeural", "sr-Latn-RS-NicholasNeural", "de"]
    nodes = "".join(
        f"  v{i}: {{type: Voice.TTS, params: {{engine: edge, voice: {v}, text: Hi}}}}\n"
        for i, v in enumerate(good)
    )
    (p,) = problems(
        write(
            "wf.yaml",
            "nodes:\n"
            + nodes
            + "  bad: {type: Voice.TTS, params: {engine: edge, voice: en-US-Aria, text: Hi}}\n",
        )
    )
    assert p.node == "bad"
