"""What a node runs with: its `NodeContext` (settings, scratch folder, cache, progress, messages, the
job store as a `JobRecorder`, usage, the trust policy), the `CheckContext` of its static checks, and
the paths its params name (`local_path`, `checked_path`, `file_stamp`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import FentaError, PathError
from ..hashing import file_sha256
from ..policy import TRUSTED, Policy

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "NodeContext",
    "CheckContext",
    "JobRecorder",
    "local_path",
    "checked_path",
    "file_stamp",
]


class _NoUsage:
    """`ctx.usage` of a node run outside a job (tests, previews): nothing is recorded."""

    def record(
        self,
        provider: str,
        *,
        model: str | None = None,
        units: str,
        quantity: float,
        cost: float | None = None,
    ) -> None:
        pass

    def tokens(self, provider: str = "openrouter") -> Callable[[Any], None]:
        return lambda usage: None

    def provider_state(self, provider: str, values: dict[str, Any]) -> None:
        pass


class JobRecorder(Protocol):
    """All a node may ask of the job store (`ctx.store`), so a job can run where the store is not.

    In a local run this is the `JobStore` itself; on a Dask worker it is a scratch store whose records
    (provider tasks, scripts written, stock clips shown) go back to the client, which alone writes its
    `fenta.db`. Usage is recorded through `ctx.usage`. `tests/engine/test_executors.py` keeps nodes to
    these methods.
    """

    def provider_task(self, key: str) -> dict[str, Any] | None: ...

    def save_provider_task(
        self,
        *,
        key: str,
        provider: str,
        task_id: str,
        status: str,
        result: dict | None = None,
        job_id: str | None = None,
        node_id: str | None = None,
    ) -> None: ...

    def update_provider_task(
        self, key: str, *, status: str | None = None, result: dict | None = None, keep_final: bool = False
    ) -> None: ...

    def delete_provider_task(self, key: str) -> None: ...

    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_put(self, key: str, node_type: str, output: dict[str, Any]) -> None: ...

    def recent_scripts(self, since: float, limit: int = 50) -> list[dict[str, Any]]: ...

    def remember_script(
        self, *, topic: str, title: str | None, hook: str | None, job_id: str | None
    ) -> None: ...

    def recent_clips(
        self, workflow: str, since: float, *, exclude_job: str | None = None, limit: int = 5000
    ) -> list[dict[str, Any]]: ...

    def remember_clips(
        self,
        *,
        workflow: str,
        provider: str,
        clip_ids: Iterable[str],
        job_id: str | None,
        node_id: str | None,
        created_at: float | None = None,
    ) -> None: ...


class NodeContext:
    """What a running node may use: its id, settings, a scratch folder, the cache, progress.

    Attributes:
        node_id: The node's id in the workflow.
        job_id: The job this run belongs to.
        settings: Resolved settings (home, keys, URLs).
        template: The resolved montage template (a dict).
        workdir: A scratch folder, removed after the node finishes.
        services: Shared per-run objects (HTTP clients, limiters), keyed by name.
        store: The job store as a `JobRecorder` (provider tasks, the cache index, scripts written), or
            None outside a job.
        usage: Where the node records its provider calls: `record(provider, model=, units=, quantity=,
            cost=)`, `tokens(provider)` (an `on_usage` callback for chat calls) and
            `provider_state(provider, values)`. The runner provides it; outside a job it records nothing.
        policy: The job's trust policy (`fenta.policy`): what the workflow may reach. Open a file a
            param names through `local_file`, and give this to any fetch of a URL from the workflow.
        node_types: Every node of the workflow, id -> type (a publish node says whether AI media was used).
    """

    def __init__(
        self,
        *,
        node_id: str,
        job_id: str,
        settings: Settings,
        template: dict[str, Any],
        out_dir: Path,
        workflow_file: str | None = None,
        workflow_name: str = "video",
        on_progress: Callable[[float], None] | None = None,
        on_message: Callable[[str, str], None] | None = None,
        services: dict[str, Any] | None = None,
        store: JobRecorder | None = None,
        usage: Any = None,
        policy: Policy = TRUSTED,
        node_types: dict[str, str] | None = None,
    ) -> None:
        self.node_id = node_id
        self.node_types = dict(node_types or {})
        self.job_id = job_id
        self.settings = settings
        self.template = template
        self.out_dir = out_dir
        self.workflow_file = workflow_file
        self.workflow_name = workflow_name
        self.services = services if services is not None else {}
        self.store = store
        self.usage = usage if usage is not None else _NoUsage()
        self.policy = policy
        self._on_progress = on_progress
        self._on_message = on_message
        tmp_root = settings.cache_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{node_id}-", dir=tmp_root))

    def progress(self, fraction: float) -> None:
        """Report progress between 0 and 1."""
        if self._on_progress:
            self._on_progress(max(0.0, min(1.0, fraction)))

    def warn(self, message: str) -> None:
        """Show a warning to the user (and keep it in the job log)."""
        if self._on_message:
            self._on_message("warning", message)

    def info(self, message: str) -> None:
        if self._on_message:
            self._on_message("info", message)

    def keep(self, path: str | os.PathLike, suffix: str | None = None) -> str:
        """Move a file into the content-addressed cache and return its new path.

        Files in the cache are named by the hash of their bytes, so identical
        results share one file and cache keys built from paths stay valid.
        """
        src = Path(path)
        h = file_sha256(src)
        dest = self.settings.cache_dir / "blobs" / h[:2] / f"{h}{suffix or src.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            src.unlink()
            os.utime(
                dest
            )  # in use again: `fenta cache prune` keeps files touched since a running job started
        else:
            os.replace(src, dest) if _same_fs(src, dest.parent) else shutil.move(src, dest)
        return str(dest)

    def job_store(self) -> JobRecorder:
        """The job store, for the steps that cannot work without one (a paid provider task is kept there
        so that a rerun does not pay again); only a job's run gives a node one."""
        if self.store is None:
            raise RuntimeError(f"node {self.node_id} needs the job store; it runs only inside a job")
        return self.store

    def local_file(self, path: str, *, field: str) -> Path:
        """The file a param names, as the node should open it: relative to the workflow's folder.

        Raises:
            PathError: the job's policy refuses it (an untrusted workflow naming a file outside
                FENTA_ALLOWED_DIRS), naming this node and `field`. Validation refused it already;
                this check stands in case the path changed since (defence in depth).
        """
        refuse = lambda why: self.error(why, field=field, cls=PathError)  # noqa: E731
        return checked_path(self.policy, self.workflow_file, path, refuse)

    def error(self, message: str, *, field: str | None = None, cls: type[FentaError] | None = None, **kw):
        """Build an error that names this node (and the workflow file)."""
        from ..errors import NodeError

        return (cls or NodeError)(message, node=self.node_id, field=field, file=self.workflow_file, **kw)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def local_path(workflow_file: str | None, path: str) -> Path:
    """A path from a workflow param: relative paths are relative to the workflow file."""
    p = Path(path).expanduser()
    if not p.is_absolute() and workflow_file:
        p = Path(workflow_file).resolve().parent / p
    return p


def checked_path(
    policy: Policy, workflow_file: str | None, path: str, refuse: Callable[[str], Exception]
) -> Path:
    """`local_path`, refused (`refuse(why)` raised) when `policy` may not open it. An untrusted
    workflow's file comes back resolved (symlinks followed): what is opened is what was checked."""
    p = local_path(workflow_file, path)
    why = policy.file_problem(p)
    if why is not None:
        raise refuse(why)
    return p if policy.trusted else Path(os.path.realpath(p))


@dataclass
class CheckContext:
    """What a node's static check (`Node.validate`) may look at, before anything runs.

    Attributes:
        template: The resolved montage template (a dict).
        workflow_file: The workflow's path (None for text without a file); relative
            paths in params are relative to its folder.
        policy: The trust policy the workflow is loaded under. The files `Node.local_paths` names are
            checked against it before `validate` runs (a refused one is the node's only problem), so
            `validate` sees only files it may look at.
    """

    template: dict[str, Any]
    workflow_file: str | None = None
    policy: Policy = TRUSTED

    def path(self, path: str) -> Path:
        """A path from a param, resolved the way the node resolves it when it runs."""
        return local_path(self.workflow_file, path)


def file_stamp(path: Path) -> str:
    """Path, size and mtime: cache-key material for a local file that may change under its name."""
    st = path.stat() if path.exists() else None
    return f"{path}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}"
