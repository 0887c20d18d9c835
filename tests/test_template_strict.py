"""Template files are read as strictly as workflows (fenta.documents): a key written twice or a
non-core YAML tag is a problem with the template's file, line and field, never silently resolved."""

from __future__ import annotations

import json

import pytest

from fenta.errors import TemplateError
from fenta.template import resolve_template

WORKFLOW = "template: {template}\nnodes:\n  s: {{type: Input.Text, params: {{text: Hello.}}}}\n"


def _workflow(write, template_text: str, *, name: str = "mine.yaml", extra: str = "") -> str:
    write(name, template_text)
    return str(write("wf.yaml", WORKFLOW.format(template=name) + extra))


def test_a_key_written_twice_in_a_template_fails_validate_naming_the_template_file_line_and_field(
    cli, write, tmp_path
):
    wf = _workflow(write, "canvas:\n  width: 720\n  height: 1280\n  width: 1080\n")
    r = cli("validate", wf)
    assert r.exit_code == 2 and "Traceback" not in r.output
    shown = str(tmp_path / "mine.yaml")
    assert f"{shown}:4, field 'canvas.width'" in r.stderr
    assert "written twice" in r.stderr and "first at line 2" in r.stderr


def test_the_duplicate_is_listed_with_its_location_in_json(cli, write, tmp_path):
    wf = _workflow(write, "name: a\nloudness: -14\nloudness: -16\n")
    r = cli("validate", wf, "--json")
    assert r.exit_code == 2
    problems = json.loads(r.stdout)["problems"]
    dup = [p for p in problems if "written twice" in p["message"]]
    assert len(dup) == 1
    assert (dup[0]["file"], dup[0]["line"], dup[0]["field"]) == (str(tmp_path / "mine.yaml"), 3, "loudness")


def test_a_duplicate_in_the_template_is_not_blamed_on_the_workflows_overrides(cli, write, tmp_path):
    wf = _workflow(write, "canvas:\n  fps: 30\n  fps: 25\n", extra="overrides: {canvas: {fps: 24}}\n")
    r = cli("validate", wf, "--json")
    assert r.exit_code == 2
    (dup,) = [p for p in json.loads(r.stdout)["problems"] if "written twice" in p["message"]]
    assert (dup["file"], dup["line"], dup["field"]) == (str(tmp_path / "mine.yaml"), 3, "canvas.fps")


@pytest.mark.parametrize(
    "text,line,field",
    [
        ("name: x\nlogo: !!python/object:fenta.template.Logo {text: hi}\n", 2, "logo"),
        ("name: !!python/object/apply:os.getcwd []\n", 1, "name"),
        ("background: !secret '#000000'\n", 1, "background"),
    ],
)
def test_a_python_or_custom_tag_in_a_template_is_refused(cli, write, tmp_path, text, line, field):
    wf = _workflow(write, text)
    r = cli("validate", wf, "--json")
    assert r.exit_code == 2 and "Traceback" not in r.output
    problems = json.loads(r.stdout)["problems"]
    tagged = [p for p in problems if "is not allowed" in p["message"]]
    assert [(p["file"], p["line"], p["field"]) for p in tagged] == [
        (str(tmp_path / "mine.yaml"), line, field)
    ]
    assert "a template holds plain text" in tagged[0]["message"]
    assert len(problems) == 1  # the refused value gets no second complaint about its type


def test_resolve_template_lists_the_duplicate_beside_field_errors(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("transition: {type: spin}\nmusic:\n  level_db: -20\n  level_db: -10\n")
    with pytest.raises(TemplateError) as e:
        resolve_template(str(bad))
    got = [(p.line, p.field) for p in e.value.problems]
    assert (4, "music.level_db") in got and (None, "transition.type") in got


def test_empty_and_comment_only_templates_still_give_the_defaults(tmp_path):
    for text in ("", "# defaults for now\n"):
        p = tmp_path / "empty.yaml"
        p.write_text(text)
        t = resolve_template(str(p))
        assert t["name"] == "empty" and t["canvas"]["width"] == 1080


def test_a_template_value_out_of_range_says_what_it_should_be_and_what_it_got(cli, write):
    wf = _workflow(write, "canvas:\n  width: 10\n  height: 1280\n")
    r = cli("validate", wf)
    assert r.exit_code == 2
    assert "field 'canvas.width': should be greater than or equal to 64 (got 10)" in r.stderr
    assert "Input should" not in r.stderr


def test_an_unknown_template_field_is_called_one(cli, write):
    r = cli("validate", _workflow(write, "canvas:\n  widht: 720\n"))
    assert r.exit_code == 2 and "field 'canvas.widht': unknown template field" in r.stderr
