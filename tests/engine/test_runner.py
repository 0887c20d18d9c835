"""The runner: concurrency, cache, refresh, checkpoints and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fenta
from fenta.engine.store import JobStore
from fenta.nodes.base import Node, Params, Ports, registry
from tests.engine.conftest import runs

PAIR = """
nodes:
  a: {type: Test.Sleep, params: {seconds: 0.6, label: a}}
  b: {type: Test.Sleep, params: {seconds: 0.6, label: b}}
  c: {type: Test.Sleep, params: {seconds: 0.0, label: c}, inputs: {after: a.text}}
"""


def test_independent_slow_nodes_run_at_the_same_time(write):
    result = fenta.run(fenta.load(write("wf.yaml", PAIR)))
    a, b = result.outputs["a"], result.outputs["b"]
    assert result.status == "completed"
    assert a["started"] < b["ended"] and b["started"] < a["ended"]
    assert result.seconds < 1.1


def test_a_node_starts_only_after_its_inputs_are_ready(write):
    result = fenta.run(fenta.load(write("wf.yaml", PAIR)))
    assert result.outputs["c"]["started"] >= result.outputs["a"]["ended"]
    assert result.outputs["c"]["text"] == "ac"


def test_rerunning_an_unchanged_workflow_runs_nothing(write, fenta_home):
    wf = fenta.load(write("wf.yaml", PAIR))
    fenta.run(wf)
    second = fenta.run(wf)
    assert set(second.nodes.values()) == {"cached"}
    assert (runs(fenta_home, "a"), runs(fenta_home, "b"), runs(fenta_home, "c")) == (1, 1, 1)
    assert second.seconds < 0.5


def test_changing_a_param_reruns_that_node_and_the_dependants_whose_inputs_changed(write, fenta_home):
    fenta.run(fenta.load(write("wf.yaml", PAIR)))
    result = fenta.run(
        fenta.load(write("wf.yaml", PAIR.replace("seconds: 0.6, label: a", "seconds: 0.1, label: z")))
    )
    assert result.nodes == {"a": "completed", "b": "cached", "c": "completed"}
    assert result.outputs["c"]["text"] == "zc"


def test_a_dependant_whose_inputs_did_not_change_stays_cached(write, fenta_home):
    fenta.run(fenta.load(write("wf.yaml", PAIR)))
    result = fenta.run(
        fenta.load(write("wf.yaml", PAIR.replace("seconds: 0.6, label: a", "seconds: 0.1, label: a")))
    )
    assert result.nodes == {"a": "completed", "b": "cached", "c": "cached"}


def test_refresh_forces_one_node_to_run_again(write, fenta_home):
    wf = fenta.load(write("wf.yaml", PAIR))
    fenta.run(wf)
    result = fenta.run(wf, refresh=["b"])
    assert result.nodes["b"] == "completed" and result.nodes["a"] == "cached"
    assert runs(fenta_home, "b") == 2


def test_a_failed_node_fails_the_job_with_its_message_and_resume_continues_from_there(
    write, fenta_home, tmp_path
):
    flag = tmp_path / "fail"
    flag.touch()
    wf = fenta.load(
        write(
            "wf.yaml",
            f"""
nodes:
  a: {{type: Test.Sleep, params: {{seconds: 0, label: a}}}}
  b: {{type: Test.Sleep, params: {{seconds: 0, label: b, fail_flag: "{flag}"}}, inputs: {{after: a.text}}}}
""",
        )
    )
    failed = fenta.run(wf)
    assert failed.status == "failed"
    assert "node 'b'" in failed.error and "asked to fail" in failed.error
    store = JobStore(fenta_home / "fenta.db")
    assert store.get_job(failed.job_id).status == "dead"  # not retryable: no retry can help
    flag.unlink()
    resumed = fenta.resume(failed.job_id)
    assert resumed.status == "completed" and resumed.job_id == failed.job_id
    assert resumed.nodes == {"a": "cached", "b": "completed"}
    assert runs(fenta_home, "a") == 1
    assert store.get_job(failed.job_id).attempt == 2


def test_a_killed_run_resumes_from_its_last_finished_node(write, fenta_home, tmp_path):
    wf_path = write(
        "wf.yaml",
        """
nodes:
  fast: {type: Test.Sleep, params: {seconds: 0, label: fast}}
  slow: {type: Test.Sleep, params: {seconds: 30, label: slow}, inputs: {after: fast.text}}
""",
    )
    script = write(
        "run.py",
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        import tests.engine.conftest  # registers Test.Sleep
        import fenta
        fenta.run(fenta.load({str(wf_path)!r}))
    """),
    )
    env = {**os.environ, "FENTA_HOME": str(fenta_home)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.time() + 30
        while runs(fenta_home, "slow") == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert runs(fenta_home, "slow") == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = JobStore(fenta_home / "fenta.db")
    (job,) = store.list_jobs()
    assert job.status == "running"  # the process died without a chance to say otherwise
    # Resume re-runs only the unfinished node; make its sleep instant so the test stays fast.
    import tests.engine.conftest as tc

    orig = tc.Sleep.run

    async def quick(self, ctx, params, inputs):
        return await orig(self, ctx, params.model_copy(update={"seconds": 0}), inputs)

    tc.Sleep.run = quick
    try:
        result = fenta.resume(job.id)
    finally:
        tc.Sleep.run = orig
    assert result.status == "completed"
    assert result.nodes == {"fast": "cached", "slow": "completed"}
    assert runs(fenta_home, "fast") == 1


def test_resuming_an_unknown_or_completed_job_is_a_clear_error(write):
    import pytest

    with pytest.raises(fenta.JobError, match="no job with id 'nope'"):
        fenta.resume("nope")
    done = fenta.run(fenta.load(write("wf.yaml", "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0}}\n")))
    with pytest.raises(fenta.JobError, match="already completed"):
        fenta.resume(done.job_id)


def test_node_runs_record_status_timings_and_outputs(write, fenta_home):
    result = fenta.run(fenta.load(write("wf.yaml", PAIR)))
    store = JobStore(fenta_home / "fenta.db")
    rows = {r["node_id"]: r for r in store.node_runs(result.job_id)}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["status"] == "completed" and rows["a"]["seconds"] >= 0.5
    assert rows["c"]["output"]["text"] == "ac"
    job = store.get_job(result.job_id)
    assert job.status == "completed" and job.progress == 1.0


class _RaiseParams(Params):
    what: str = "timeout"


class _Raises(Node):
    """Raises an exception that is not fenta's, as a library might from inside a node."""

    type = "Test.Raises"
    Params = _RaiseParams

    class Outputs(Ports):
        text: str

    async def run(self, ctx, params, inputs):
        import httpx

        if params.what == "timeout":
            raise TimeoutError("no answer")
        if params.what == "network":
            raise httpx.ConnectError("connection refused")
        raise KeyError("a bug")


registry.register(_Raises)


@pytest.mark.parametrize("what,retryable", [("timeout", True), ("network", True), ("bug", False)])
def test_network_trouble_that_escapes_a_node_is_retryable_and_a_bug_is_not(write, what, retryable):
    wf = fenta.load(write("wf.yaml", f"nodes:\n  x: {{type: Test.Raises, params: {{what: {what}}}}}\n"))
    result = fenta.run(wf, retries=0)
    assert (result.state, result.retryable) == ("dead", retryable)
    assert "node 'x': unexpected error" in result.error
