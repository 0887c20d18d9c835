"""Loading a workflow under the untrusted policy: every local file it names is refused at validation
(one problem naming node and field) unless it lies inside FENTA_ALLOWED_DIRS, before anything looks at
the file; the local user's workflows load as before.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import fenta
from fenta.engine.spec import loads, parse_var_overrides
from fenta.errors import SpecError
from fenta.policy import TRUSTED, Policy

#: Paths the audit hook saw opened while `_opening` is on (Python's "open" audit event covers open(),
#: Path.read_text/read_bytes and os.open).
_opened: list[str] = []
_watching: list[bool] = []


def _hook(event: str, args: tuple) -> None:
    if _watching and event in ("open", "os.open") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_hook)  # audit hooks cannot be removed: it records only while a test watches


@pytest.fixture
def opened():
    _opened.clear()
    _watching.append(True)
    yield _opened
    _watching.clear()


@pytest.fixture
def secret(tmp_path) -> Path:
    p = tmp_path / "outside" / "secret.txt"
    p.parent.mkdir()
    p.write_text("the secret narration\n")
    return p


@pytest.fixture
def allowed(tmp_path) -> Path:
    folder = tmp_path / "allowed"
    folder.mkdir()
    return folder


UNTRUSTED = Policy(trusted=False)

#: One workflow per field that names a file: (node type, params with PATH in place of the file, field).
FIELDS = [
    ("Input.Text", {"path": "PATH"}, "params.path"),
    ("Input.Asset", {"paths": ["https://example.com/a.mp4", "PATH"]}, "params.paths[1]"),
    ("Music", {"path": "PATH"}, "params.path"),
    ("Voice.Align", {"audio": "PATH", "text": "hello"}, "params.audio"),
]


def _doc(node_type: str, params: dict, path: str) -> str:
    import json

    filled = json.loads(json.dumps(params).replace('"PATH"', json.dumps(path)))
    return json.dumps({"nodes": {"n": {"type": node_type, "params": filled}}})


def _problems(text: str, tmp_path: Path, policy: Policy = UNTRUSTED, **kw) -> list:
    with pytest.raises(SpecError) as e:
        loads(text, file=str(tmp_path / "wf.json"), policy=policy, **kw)
    return e.value.problems


@pytest.mark.parametrize("node_type,params,field", FIELDS, ids=[f[0] for f in FIELDS])
def test_each_field_naming_a_file_is_refused_under_the_untrusted_policy_naming_node_and_field(
    node_type, params, field, tmp_path, secret
):
    [problem] = _problems(_doc(node_type, params, str(secret)), tmp_path)
    assert (problem.node, problem.field) == ("n", field)
    assert (
        "untrusted workflow may not name local files" in problem.message
        and "FENTA_ALLOWED_DIRS" in problem.message
    )


@pytest.mark.parametrize("node_type,params,field", FIELDS, ids=[f[0] for f in FIELDS])
def test_a_refused_file_is_never_opened(node_type, params, field, tmp_path, secret, opened):
    _problems(_doc(node_type, params, str(secret)), tmp_path)
    assert [p for p in opened if "secret" in p] == []


@pytest.mark.parametrize("node_type,params,field", FIELDS, ids=[f[0] for f in FIELDS])
def test_the_refusal_says_nothing_about_whether_the_file_exists(node_type, params, field, tmp_path, secret):
    there = _problems(_doc(node_type, params, str(secret)), tmp_path)
    missing = _problems(_doc(node_type, params, str(secret.parent / "missing.txt")), tmp_path)
    assert [str(p) for p in there] == [str(p) for p in missing]


@pytest.mark.parametrize(
    "path", ["../outside/secret.txt", "outside/secret.txt", ".env", "~/.ssh/id_rsa", "/etc/passwd"]
)
def test_relative_home_and_absolute_paths_are_all_refused(path, tmp_path, secret):
    [problem] = _problems(_doc("Input.Text", {"path": "PATH"}, path), tmp_path)
    assert problem.field == "params.path"


def test_a_path_that_arrives_through_a_variable_is_refused_too(tmp_path, secret):
    text = '{"vars": {"p": "x"}, "nodes": {"n": {"type": "Input.Text", "params": {"path": "${vars.p}"}}}}'
    [problem] = _problems(text, tmp_path, vars={"p": str(secret)})
    assert (problem.node, problem.field) == ("n", "params.path")


def test_a_piper_model_given_as_a_path_is_refused(tmp_path):
    model = tmp_path / "outside.onnx"
    model.write_bytes(b"x")
    voice = {"type": "Voice.TTS", "params": {"engine": "piper", "voice": str(model), "text": "hi"}}
    text = json.dumps({"nodes": {"v": voice}})
    [problem] = _problems(text, tmp_path)
    assert (problem.node, problem.field) == ("v", "params.voice") and "untrusted" in problem.message


def test_files_inside_an_allowed_folder_load(tmp_path, allowed):
    (allowed / "script.txt").write_text("hello there\n")
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    wf = loads(
        _doc("Input.Text", {"path": "PATH"}, "allowed/script.txt"),
        file=str(tmp_path / "wf.json"),
        policy=policy,
    )
    assert wf.policy == policy


def test_inside_an_allowed_folder_a_missing_file_is_still_reported_as_missing(tmp_path, allowed):
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    [problem] = _problems(_doc("Input.Text", {"path": "PATH"}, str(allowed / "nope.txt")), tmp_path, policy)
    assert problem.message.startswith("file not found")


def test_a_symlink_out_of_an_allowed_folder_is_refused(tmp_path, allowed, secret, opened):
    (allowed / "link.txt").symlink_to(secret)
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    opened.clear()
    [problem] = _problems(_doc("Input.Text", {"path": "PATH"}, "allowed/link.txt"), tmp_path, policy)
    assert problem.field == "params.path" and "outside" in problem.message
    assert [p for p in opened if "secret" in p or "link" in p] == []


def test_urls_and_library_ids_are_not_local_files(tmp_path):
    text = (
        '{"nodes": {"n": {"type": "Input.Asset",'
        ' "params": {"paths": ["https://example.com/a.mp4"], "asset": "abc123"}}}}'
    )
    [problem] = _problems(text, tmp_path)
    assert problem.field == "params.asset" and "untrusted" not in problem.message  # the library's answer


def test_the_local_users_workflow_still_reads_its_files(tmp_path, secret):
    wf = loads(_doc("Input.Text", {"path": "PATH"}, str(secret)), file=str(tmp_path / "wf.json"))
    assert wf.policy is TRUSTED
    [problem] = _problems(
        _doc("Input.Text", {"path": "PATH"}, str(secret.parent / "missing.txt")), tmp_path, TRUSTED
    )
    assert problem.message.startswith("file not found")


# ------------------------------------------------------------------------------------------ templates


def test_a_template_given_as_a_path_is_refused_before_it_is_read(tmp_path, opened):
    (tmp_path / "mine.yaml").write_text("canvas: {width: 320, height: 320}\n")
    opened.clear()
    text = '{"template": "mine.yaml", "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}}}'
    [problem] = _problems(text, tmp_path)
    assert problem.field == "template" and "untrusted workflow may not name local files" in problem.message
    assert [p for p in opened if p.endswith("mine.yaml")] == []


def test_a_template_path_that_does_not_exist_gets_the_same_answer(tmp_path):
    (tmp_path / "mine.yaml").write_text("canvas: {width: 320, height: 320}\n")
    there = _problems(
        '{"template": "mine.yaml", "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}}}',
        tmp_path,
    )
    missing = _problems(
        '{"template": "gone.yaml", "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}}}',
        tmp_path,
    )
    assert [p.message for p in there] == [p.message for p in missing]


def test_shipped_templates_stay_allowed(tmp_path):
    wf = loads(
        '{"template": "square", "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}}}',
        policy=UNTRUSTED,
    )
    assert wf.template["name"] == "square"


def test_a_logo_set_through_overrides_is_refused(tmp_path, secret):
    text = json.dumps(
        {
            "overrides": {"logo": {"path": str(secret)}},
            "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}},
        }
    )
    [problem] = _problems(text, tmp_path)
    assert problem.field == "overrides.logo.path" and "untrusted" in problem.message


def test_a_logo_in_an_allowed_template_file_pointing_outside_is_refused(tmp_path, allowed, secret):
    (allowed / "brand.yaml").write_text(f"logo: {{path: {secret}}}\n")
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    text = (
        '{"template": "allowed/brand.yaml", "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}}}'
    )
    [problem] = _problems(text, tmp_path, policy)
    assert (
        problem.field == "logo.path"
        and problem.file == str(allowed / "brand.yaml")
        and "outside" in problem.message
    )


def test_the_local_users_template_file_and_logo_load_as_before(tmp_path, secret):
    (tmp_path / "mine.yaml").write_text(f"logo: {{path: {secret}}}\n")
    wf = loads(
        '{"template": "mine.yaml", "nodes": {"n": {"type": "Input.Text", "params": {"text": "hi"}}}}',
        file=str(tmp_path / "wf.json"),
    )
    assert wf.template["logo"]["path"] == str(secret)


# ------------------------------------------------------------------------------------ @file variables


def test_an_at_file_variable_is_refused_under_the_untrusted_policy_before_it_is_read(secret, opened):
    with pytest.raises(SpecError) as e:
        parse_var_overrides([f"script=@{secret}"], policy=UNTRUSTED)
    [problem] = e.value.problems
    assert problem.field == "--var script" and "untrusted" in problem.message
    assert [p for p in opened if "secret" in p] == []


def test_an_at_file_variable_inside_an_allowed_folder_is_read(allowed):
    (allowed / "today.txt").write_text("Today's script.\n")
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    assert parse_var_overrides([f"script=@{allowed / 'today.txt'}"], policy=policy) == {
        "script": "Today's script."
    }


def test_values_passed_as_vars_are_text_never_files(tmp_path, secret):
    text = (
        '{"vars": {"line": "x"}, "nodes": {"n": {"type": "Input.Text", "params": {"text": "${vars.line}"}}}}'
    )
    wf = loads(text, vars={"line": f"@{secret}"}, policy=UNTRUSTED)
    assert wf.nodes["n"].parsed_params.text == f"@{secret}"


# ------------------------------------------------------------------------------------------- the SDK


def test_fenta_load_untrusted_applies_the_operators_allowed_folders(
    tmp_path, allowed, secret, monkeypatch, write
):
    (allowed / "script.txt").write_text("hello\n")
    monkeypatch.setenv("FENTA_ALLOWED_DIRS", str(allowed))
    ok = fenta.load(
        write("ok.json", _doc("Input.Text", {"path": "PATH"}, "allowed/script.txt")), trusted=False
    )
    assert not ok.policy.trusted and ok.policy.allowed_dirs == (Path(os.path.realpath(allowed)),)
    with pytest.raises(SpecError) as e:
        fenta.load(write("bad.json", _doc("Input.Text", {"path": "PATH"}, str(secret))), trusted=False)
    assert e.value.problems[0].field == "params.path"
    assert fenta.load(write("mine.json", _doc("Input.Text", {"path": "PATH"}, str(secret)))).policy is TRUSTED


def test_fenta_load_takes_a_policy_object(tmp_path, allowed, write):
    (allowed / "script.txt").write_text("hello\n")
    policy = fenta.Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    assert (
        fenta.load(
            write("ok.json", _doc("Input.Text", {"path": "PATH"}, "allowed/script.txt")), policy=policy
        ).policy
        == policy
    )
    with pytest.raises(ValueError):
        fenta.load(
            write("ok.json", _doc("Input.Text", {"path": "PATH"}, "allowed/script.txt")),
            trusted=False,
            policy=TRUSTED,
        )
