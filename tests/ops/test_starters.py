"""`fenta init` (fenta.ops.starters): starters that validate, the keys they need, and an offline render."""

from __future__ import annotations

import json

import pytest

from fenta.engine.spec import load
from fenta.errors import PathError, SpecError
from fenta.media.probe import probe
from fenta.ops.starters import KINDS, init

NEEDS = {
    "quickstart": [],
    "stock": ["OPENROUTER_API_KEY", "PEXELS_API_KEY"],
    "ai": ["OPENROUTER_API_KEY", "KIE_API_KEY"],
}


def env_keys(text: str) -> list[str]:
    """The variables a .env file sets (commented lines set nothing)."""
    return [
        line.split("=", 1)[0]
        for line in text.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_writes_a_commented_workflow_that_validates_and_an_env_example_of_its_keys(kind, tmp_path):
    done = init(f"my-{kind}", kind=kind, folder=tmp_path / "proj")
    wf = load(done.workflow)
    assert wf.name == f"my-{kind}" and wf.template_name == "karaoke-bold"
    assert done.workflow.read_text().count("\n#") >= 3
    assert env_keys(done.env_example.read_text()) == NEEDS[kind] == done.keys


@pytest.mark.parametrize("template", ["square", "explainer-16x9"])
def test_the_template_asked_for_is_the_one_used(template, tmp_path):
    assert (
        load(init("x", kind="stock", template=template, folder=tmp_path).workflow).template_name == template
    )


def test_an_existing_workflow_is_kept_unless_forced(tmp_path):
    (tmp_path / "clip.yaml").write_text("mine\n")
    with pytest.raises(PathError) as e:
        init("clip", folder=tmp_path)
    assert e.value.exit_code == 2 and (tmp_path / "clip.yaml").read_text() == "mine\n"
    assert str(e.value).endswith("already exists; pass force=True to replace it, or choose another name=")
    assert not (tmp_path / ".env.example").exists()
    init("clip", folder=tmp_path, force=True)
    assert load(tmp_path / "clip.yaml").name == "clip"


def test_an_existing_env_example_only_gains_the_keys_it_lacks(tmp_path):
    (tmp_path / ".env.example").write_text("# mine\nOPENROUTER_API_KEY=\nMY_OWN=1\n")
    done = init("a", kind="ai", folder=tmp_path)
    text = done.env_example.read_text()
    assert done.env_status == "updated" and text.startswith("# mine\nOPENROUTER_API_KEY=\nMY_OWN=1\n")
    assert env_keys(text) == ["OPENROUTER_API_KEY", "MY_OWN", "KIE_API_KEY"]
    assert init("b", kind="stock", folder=tmp_path).env_status == "updated"
    assert init("c", kind="quickstart", folder=tmp_path).env_status == "unchanged"


@pytest.mark.parametrize(
    "kwargs", [{"name": "../up"}, {"name": "a b"}, {"template": "no-such-look"}, {"kind": "cartoon"}]
)
def test_bad_names_kinds_and_templates_are_refused_and_nothing_is_written(kwargs, tmp_path):
    with pytest.raises(SpecError) as e:
        init(**{"name": "ok", **kwargs}, folder=tmp_path)
    assert e.value.exit_code == 2 and list(tmp_path.iterdir()) == []


def test_the_quickstart_starter_renders_offline_with_voice_and_captions(cli, tmp_path, monkeypatch):
    # Nowhere to reach: every service URL points at a closed port, and no key is set (conftest).
    for var in ("FENTA_OPENROUTER_URL", "FENTA_PEXELS_URL", "FENTA_KIE_URL"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    assert cli("init", "hello").exit_code == 0
    r = cli("run", "hello.yaml", "--preview", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    info = probe(result["video"])
    assert info.has_video and info.has_audio and 3 <= info.duration <= 15
    assert "octopuses" in (tmp_path / result["artifacts"]["srt"]).read_text().lower()


def test_a_template_file_is_named_relative_to_the_written_workflow(tmp_path, monkeypatch):
    (tmp_path / "looks").mkdir()
    (tmp_path / "looks" / "mine.yaml").write_text("canvas: {width: 720, height: 720}\n")
    done = init("x", template="looks/mine.yaml", folder=tmp_path / "videos")
    assert "template: ../looks/mine.yaml" in done.workflow.read_text()
    assert load(done.workflow).template["canvas"]["width"] == 720


def test_a_name_in_any_alphabet_names_the_file_and_the_workflow(tmp_path):
    done = init("октопус-1", folder=tmp_path)
    assert done.workflow == tmp_path / "октопус-1.yaml" and load(done.workflow).name == "октопус-1"


def test_a_name_yaml_would_read_as_a_number_or_null_stays_the_name(tmp_path):
    assert load(init("2024", folder=tmp_path).workflow).name == "2024"
    assert load(init("null", folder=tmp_path).workflow).name == "null"


@pytest.mark.parametrize("name", ["a b", "-x", "_x", "../up", "x.yaml"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(name, tmp_path):
    with pytest.raises(SpecError, match="plain file name"):
        init(name, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_dir_that_is_a_file_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PathError, match="notes.txt is a file, not a folder: give folder= a path"):
        init("clip", folder=tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"
