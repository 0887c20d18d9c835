"""A batch's report, read from fenta.db at any time: JSON (`--report`) and JUnit XML (`--junit`).

Row states: `passed` (the job completed), `failed` (it died: out of retries or not retryable),
`skipped` (cancelled: `--fail-fast` stopped the batch, or someone cancelled the job), and while the
batch runs `queued`, `running` or `retrying`. A failed row is a JUnit `<failure>` when a node of the
workflow failed on purpose (a render, a voice, bad media, a provider's error) and an `<error>` when
the machinery around it did (the process or a Dask worker died, the output folder could not be
written) or a node crashed with an unexpected exception (a bug).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..engine.leases import HOST, pid_alive
from ..engine.outputs import check_writable
from ..errors import PathError
from .batch_store import batch_rows, get_batch

__all__ = ["build_report", "write_json", "write_junit", "check_report_path", "closing_line", "row_state"]

#: A report's file name fits 255 bytes with the temporary `.NAME.XXXXXXXX.part` it is written as first.
_MAX_REPORT_NAME = 255 - len("..XXXXXXXX.part")


def row_state(job: dict[str, Any] | None) -> str:
    """A row's state in the report, from its job's status."""
    if job is None:
        return "queued"
    status = job["status"]
    if status == "failed":
        return "retrying" if job.get("next_attempt_at") else "failed"
    return {"completed": "passed", "dead": "failed", "cancelled": "skipped"}.get(status, status)


def _iso(ts: float | None) -> str | None:
    return (
        dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        if ts
        else None
    )


def _failed_node(store: Any, job_id: str) -> dict[str, Any] | None:
    return store.last_failed_node(job_id)


def _finished_at(store: Any, job_id: str | None) -> float | None:
    job = store.get_job(job_id) if job_id else None
    return job.finished_at if job is not None else None


def _row(store: Any, r: dict[str, Any]) -> dict[str, Any]:
    job = r["job"]
    state = row_state(job)
    out: dict[str, Any] = {
        "index": r["row_index"],
        "name": r["name"],
        "job_id": r["job_id"],
        "status": state,
        "video": None,
        "duration": None,
        "cost": 0.0,
        "seconds": None,
        "attempts": 0,
        "error": None,
        "failed_node": None,
        "failed_node_type": None,
        "error_kind": None,
        "node": None,
        "renditions": {},
    }
    if job is None:
        return out
    out.update(cost=round(job.get("cost") or 0.0, 6), attempts=job.get("attempt") or 0)
    if state == "running":  # where a running row is now (`fenta batch status` from another terminal)
        out["node"] = job.get("current_node")
    if job.get("started_at") and job.get("finished_at") and state not in ("running", "queued"):
        out["seconds"] = round(job["finished_at"] - job["started_at"], 3)
    if state == "passed":
        arts = store.artifacts(job["id"])
        video = next((a for a in arts if a["kind"] == "video"), None)
        if video:
            out.update(video=video["path"], duration=video["duration"])
        # Render.renditions: the other aspects' cuts, by aspect ("1x1": path).
        cuts = [a for a in arts if a["kind"].startswith("video-")]
        out["renditions"] = {a["kind"].removeprefix("video-"): a["path"] for a in cuts}
    elif state in ("failed", "skipped", "retrying"):
        out["error"] = job.get("error")
        node = _failed_node(store, job["id"]) if state != "skipped" else None
        if node:
            out.update(failed_node=node["node_id"], failed_node_type=node["node_type"])
        if state == "failed":
            error = job.get("error") or ""
            # A bug, not a node's verdict.
            internal = error.startswith("internal error") or "unexpected error: " in error
            out["error_kind"] = "failure" if node and not internal else "error"
    return out


def build_report(store: Any, batch_id: str) -> dict[str, Any]:
    """The batch's report: its id, workflow, manifest, output folder, state (`running`, `finished`: every
    row has an outcome, `stopped`: stopped or killed with rows left), totals and one entry per row.

    Raises:
        BatchError: no such batch.
    """
    batch = get_batch(store, batch_id)
    rows = [_row(store, r) for r in batch_rows(store, batch["id"])]
    count = lambda *states: sum(1 for r in rows if r["status"] in states)  # noqa: E731
    ended = [r for r in rows if r["status"] in ("passed", "failed", "skipped")]
    last = max((_finished_at(store, r["job_id"]) or 0) for r in ended) if ended else None
    seconds = (
        round((batch["finished_at"] or last or batch["started_at"]) - batch["started_at"], 3)
        if batch["started_at"]
        else None
    )
    passed = count("passed")
    totals = {
        "rows": len(rows),
        "passed": passed,
        "failed": count("failed"),
        "skipped": count("skipped"),
        "pending": count("queued", "running", "retrying"),
        "cost": round(sum(r["cost"] for r in rows), 6),
        "video_seconds": round(sum(r["duration"] or 0 for r in rows), 3),
        "videos_per_hour": round(passed * 3600 / seconds, 1) if seconds and passed else None,
    }
    state = batch["status"]
    if state == "running" and batch["host"] == HOST and not pid_alive(batch["pid"]):
        state = "stopped"  # its process was killed: `fenta batch resume` continues it
    return {
        "batch_id": batch["id"],
        "workflow": batch["workflow_file"],
        "manifest": batch["manifest"],
        "out_dir": batch["out_dir"],
        "status": state,
        "created_at": _iso(batch["created_at"]),
        "finished_at": _iso(batch["finished_at"]),
        "seconds": seconds,
        "totals": totals,
        "rows": rows,
    }


def closing_line(report: dict[str, Any]) -> str:
    """`N passed, N failed` (what a batch prints last), and `, N not run` when rows were skipped or left."""
    t = report["totals"]
    left = t["rows"] - t["passed"] - t["failed"]
    return f"{t['passed']} passed, {t['failed']} failed" + (f", {left} not run" if left else "")


def check_report_path(path: str | os.PathLike, option: str) -> None:
    """That a report can be written at `path` (checked before any row runs: a batch never runs to
    its end for a report it cannot keep): not a folder, and its folder can be created and written.

    Raises:
        PathError: naming the option, the path and the reason (exit 2).
    """
    dest = Path(path)
    if dest.is_dir():
        raise PathError(f"{option} {path} is a folder: give a file name for the report")
    size = len(os.fsencode(dest.name))
    if size > _MAX_REPORT_NAME:
        raise PathError(f"{option} {path}: the file name is {size} bytes long, at most {_MAX_REPORT_NAME}")
    check_writable(dest.parent, f"{option} folder")


def _write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write a whole file or nothing: a reader never sees half a report."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(report: dict[str, Any], path: str | os.PathLike) -> None:
    """The report as JSON (UTF-8, indented)."""
    _write_atomic(
        path, (json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    )


def junit_xml(report: dict[str, Any]) -> bytes:
    """The report as a JUnit XML document: one testsuite, one testcase per row."""
    t = report["totals"]
    workflow = Path(report["workflow"]).stem
    errors = sum(1 for r in report["rows"] if r["error_kind"] == "error")
    failures = t["failed"] - errors
    skipped = t["rows"] - t["passed"] - t["failed"]
    counts = {
        "tests": str(t["rows"]),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": f"{report['seconds'] or 0:.3f}",
    }
    root = ET.Element("testsuites", {"name": f"fenta batch {report['batch_id']}", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": f"{workflow} ({Path(report['manifest']).name})",
            **counts,
            "timestamp": (report["created_at"] or "").rstrip("Z"),
            "hostname": socket.gethostname(),
        },
    )
    props = ET.SubElement(suite, "properties")
    for key in ("batch_id", "workflow", "manifest", "out_dir"):
        ET.SubElement(props, "property", {"name": key, "value": str(report[key])})
    for r in report["rows"]:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"fenta.batch.{workflow}",
                "name": f"{r['index']:04d} {r['name']}",
                "time": f"{r['seconds'] or 0:.3f}",
            },
        )
        named = r["failed_node"] and f"node '{r['failed_node']}'" not in (r["error"] or "")
        where = f" (node '{r['failed_node']}', {r['failed_node_type']})" if named else ""
        if r["status"] == "failed":
            tag = "failure" if r["error_kind"] == "failure" else "error"
            el = ET.SubElement(
                case,
                tag,
                {
                    "message": f"{r['error'] or 'failed'}{where}",
                    "type": r["failed_node_type"] or "infrastructure",
                },
            )
            el.text = (
                f"job {r['job_id']}, {r['attempts']} attempt(s): {r['error']}{where}\n"
                f"details: fenta jobs show {r['job_id']}"
            )
        elif r["status"] != "passed":
            why = (
                "not run: the batch stopped first (--fail-fast)"
                if r["status"] == "skipped"
                else f"not finished ({r['status']}): continue with fenta batch resume {report['batch_id']}"
            )
            ET.SubElement(
                case,
                "skipped",
                {
                    "message": r["error"]
                    if r["status"] == "skipped" and r["error"] not in (None, "cancelled")
                    else why
                },
            )
        out = (
            [f"job: {r['job_id']}"]
            + ([f"video: {r['video']}", f"duration: {r['duration']}"] if r["video"] else [])
            + [f"cost: {r['cost']}", f"attempts: {r['attempts']}"]
        )
        out += [f"video {aspect}: {path}" for aspect, path in (r.get("renditions") or {}).items()]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(report: dict[str, Any], path: str | os.PathLike) -> None:
    """The report as JUnit XML (see `junit_xml`)."""
    _write_atomic(path, junit_xml(report))
