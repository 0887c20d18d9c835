"""Defence in depth: a node that opens a file a param names asks the job's policy first, at run time too
(`NodeContext.local_file`), so a path that changed since validation is refused naming node and field."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from fenta.config import Settings
from fenta.errors import PathError
from fenta.nodes.base import NodeContext, registry
from fenta.policy import TRUSTED, Policy


@pytest.fixture
def secret(tmp_path) -> Path:
    p = tmp_path / "secret.txt"
    p.write_text("the secret narration\n")
    return p


def _ctx(tmp_path: Path, policy: Policy) -> NodeContext:
    return NodeContext(
        node_id="n",
        job_id="j",
        settings=Settings.from_env(),
        template={},
        out_dir=tmp_path / "out",
        workflow_file=str(tmp_path / "wf.yaml"),
        policy=policy,
    )


def _run(node_type: str, params: dict, ctx: NodeContext, inputs: dict | None = None):
    cls = registry.get(node_type)
    assert cls is not None
    return asyncio.run(
        cls().run(ctx, cls.Params.model_validate(params), cls.Inputs.model_validate(inputs or {}))
    )


CASES = [
    ("Input.Text", {"path": "PATH"}, "params.path"),
    ("Input.Asset", {"paths": ["PATH"]}, "params.paths"),
    ("Music", {"path": "PATH"}, "params.path"),
    ("Voice.Align", {"audio": "PATH", "text": "hello"}, "params.audio"),
    ("Voice.TTS", {"engine": "piper", "voice": "PATH.onnx", "text": "hello"}, "params.voice"),
]


@pytest.mark.parametrize("node_type,params,field", CASES, ids=[c[0] for c in CASES])
def test_a_node_refuses_at_run_time_a_file_its_jobs_policy_does_not_allow(
    node_type, params, field, tmp_path, secret
):
    filled = {
        k: ([str(secret)] if v == ["PATH"] else v.replace("PATH", str(secret)) if isinstance(v, str) else v)
        for k, v in params.items()
    }
    with pytest.raises(PathError) as e:
        _run(node_type, filled, _ctx(tmp_path, Policy(trusted=False)))
    assert (e.value.node, e.value.field) == ("n", field) and "untrusted" in e.value.message
    assert e.value.exit_code == 2 and not getattr(e.value, "retryable", False)


def test_a_relative_path_is_checked_where_the_node_opens_it(tmp_path, secret):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "script.txt").write_text("inside\n")
    policy = Policy(trusted=False, allowed_dirs=(Path(os.path.realpath(allowed)),))
    assert _run("Input.Text", {"path": "allowed/script.txt"}, _ctx(tmp_path, policy)).text == "inside"
    (allowed / "script.txt").unlink()
    (allowed / "script.txt").symlink_to(secret)  # swapped after validation
    with pytest.raises(PathError):
        _run("Input.Text", {"path": "allowed/script.txt"}, _ctx(tmp_path, policy))


def test_the_local_users_node_reads_the_file(tmp_path, secret):
    assert _run("Input.Text", {"path": str(secret)}, _ctx(tmp_path, TRUSTED)).text == "the secret narration"


def test_a_logo_the_policy_refuses_stops_the_render_before_ffmpeg_opens_it(tmp_path, secret):
    from fenta.render.timeline import Timeline

    timeline = Timeline.model_validate(
        {
            "canvas": {"width": 64, "height": 64, "fps": 10},
            "duration": 1.0,
            "segments": [{"kind": "color", "color": "#000000", "start": 0, "duration": 1.0}],
            "template": {"logo": {"path": str(secret)}},
        }
    )
    with pytest.raises(PathError) as e:
        _run("Render", {"profile": "canvas"}, _ctx(tmp_path, Policy(trusted=False)), {"timeline": timeline})
    assert e.value.field == "template.logo.path"
