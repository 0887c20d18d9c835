"""The executor seam: `make_executor` for each `--cluster` value, the local executor, a Worker limited
to one batch, and the one-line errors when Dask is missing or its scheduler cannot be reached."""

from __future__ import annotations

import socket
import sys
import time

import pytest

import fenta
from fenta.config import Settings
from fenta.engine.executors import Executor, LocalExecutor, make_executor, parse_cluster
from fenta.engine.worker import Worker
from fenta.errors import ClusterError

TEXT_ONLY = """
version: 1
name: {name}
nodes:
  script: {{type: Input.Text, params: {{text: "Row {name}."}}}}
"""


def _settings(**env: str) -> Settings:
    return Settings.from_env({"FENTA_HOME": "/tmp/unused", **env})


def test_no_cluster_and_no_address_runs_jobs_in_this_process():
    ex = make_executor(None, _settings())
    assert isinstance(ex, LocalExecutor) and isinstance(ex, Executor)
    assert ex.name == "local"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("local", ("dask-local", None)),
        ("local:3", ("dask-local", 3)),
        ("tcp://10.0.0.5:8786", ("dask", "tcp://10.0.0.5:8786")),
        ("10.0.0.5:8786", ("dask", "tcp://10.0.0.5:8786")),
    ],
)
def test_cluster_values_name_a_local_cluster_or_a_scheduler(value, expected):
    assert parse_cluster(value, _settings()) == expected


def test_fenta_dask_address_wins_over_dask_scheduler_address():
    both = _settings(FENTA_DASK_ADDRESS="tcp://a:1", DASK_SCHEDULER_ADDRESS="tcp://b:2")
    assert parse_cluster(None, both) == ("dask", "tcp://a:1")
    assert parse_cluster(None, _settings(DASK_SCHEDULER_ADDRESS="tcp://b:2")) == ("dask", "tcp://b:2")


@pytest.mark.parametrize("value", ["local:0", "local:two", "my-cluster"])
def test_a_cluster_value_that_is_neither_local_nor_an_address_is_refused_in_one_line(value):
    with pytest.raises(ClusterError) as e:
        parse_cluster(value, _settings())
    assert e.value.exit_code == 2 and "\n" not in str(e.value) and value in str(e.value)


def test_a_worker_given_a_batch_runs_only_that_batch_and_stops_when_it_is_done(
    write, fenta_home, tmp_path, monkeypatch
):
    monkeypatch.setenv("FENTA_POLL_SECONDS", "0.02")
    mine = [
        fenta.submit(
            fenta.load(write(f"a{i}.yaml", TEXT_ONLY.format(name=f"a{i}"))),
            out=str(tmp_path / "out"),
            batch_id="b-mine",
        )
        for i in range(2)
    ]
    other = fenta.submit(
        fenta.load(write("z.yaml", TEXT_ONLY.format(name="z"))), out=str(tmp_path / "out"), batch_id="b-other"
    )
    with make_executor(None) as ex:
        results = Worker(concurrency=2, until_empty=True, executor=ex, batch_id="b-mine").run()
    assert sorted(r.job_id for r in results) == sorted(mine)
    assert {fenta.jobs.get(j)["job"]["status"] for j in mine} == {"completed"}
    assert fenta.jobs.get(other)["job"]["status"] == "queued"


def test_a_worker_given_no_batch_leaves_the_jobs_of_batches_to_their_batch(
    write, fenta_home, tmp_path, monkeypatch
):
    monkeypatch.setenv("FENTA_POLL_SECONDS", "0.02")
    plain = fenta.submit(fenta.load(write("p.yaml", TEXT_ONLY.format(name="p"))), out=str(tmp_path / "out"))
    in_batch = fenta.submit(
        fenta.load(write("b.yaml", TEXT_ONLY.format(name="b"))), out=str(tmp_path / "out"), batch_id="b-1"
    )
    results = Worker(until_empty=True).run()  # returns although the batch's job is still queued
    assert [r.job_id for r in results] == [plain]
    assert fenta.jobs.get(in_batch)["job"]["status"] == "queued"


def test_without_dask_a_cluster_is_refused_with_the_install_command(monkeypatch):
    # A module set to None in sys.modules cannot be imported: Python's own way to say "not installed".
    for name in ("dask", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ClusterError) as e:
        make_executor("local:1", _settings())
    assert str(e.value) == "--cluster needs Dask: pip install 'fenta[dask]'"
    assert e.value.exit_code == 2


def test_an_unreachable_scheduler_is_one_line_within_the_connect_timeout():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ClusterError) as e:
        make_executor(f"tcp://127.0.0.1:{port}", _settings(), connect_timeout=1)
    assert time.monotonic() - t0 < 15
    assert str(e.value).startswith(f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def _store_uses(path) -> set[str]:
    """Attributes a node module reads off the job store: `ctx.store` or `ctx.job_store()`, directly or
    through a name bound to it."""
    import ast

    tree = ast.parse(path.read_text())

    def is_ctx_attr(node, name) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == name
            and isinstance(node.value, ast.Name)
            and node.value.id == "ctx"
        )

    def is_ctx_store(node) -> bool:
        return is_ctx_attr(node, "store") or (
            isinstance(node, ast.Call) and is_ctx_attr(node.func, "job_store")
        )

    aliases = {
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and is_ctx_store(n.value)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and (is_ctx_store(n.value) or (isinstance(n.value, ast.Name) and n.value.id in aliases))
    }


def test_nodes_reach_the_job_store_only_through_the_job_recorder_interface():
    from pathlib import Path

    from fenta.nodes.base import JobRecorder

    allowed = {name for name in vars(JobRecorder) if not name.startswith("_")}
    nodes = Path(fenta.__file__).parent / "nodes"
    used = {f"{p.name}: {attr}" for p in sorted(nodes.glob("*.py")) for attr in _store_uses(p) - allowed}
    assert not used, (
        "nodes use the store beyond JobRecorder (add it there and to the Dask payload, or use ctx.usage):"
        f" {sorted(used)}"
    )
    # The guard sees real uses: the KIE nodes keep their paid tasks through ctx.store (kie_tasks.py).
    assert {"provider_task", "save_provider_task"} <= _store_uses(nodes / "kie_tasks.py")


def test_the_job_store_is_a_job_recorder():
    from fenta.engine.store import JobStore
    from fenta.nodes.base import JobRecorder

    missing = [
        name
        for name in vars(JobRecorder)
        if not name.startswith("_") and not callable(getattr(JobStore, name, None))
    ]
    assert not missing
