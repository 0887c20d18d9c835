"""Receiving KIE.ai callbacks (optional mode): verify, then update the same task row polling updates.

A workflow that sets `callback_url` on AI.Image / AI.Video has KIE POST the finished task to that URL.
Whatever serves that URL (`serve_callbacks()` here, or your own web app calling `handle_callback()`)
writes the result into `provider_tasks`; the polling node sees the row finished and stops polling.
Polling stays on either way: the status query is the source of truth and callbacks may never come.

When a signing secret is configured (FENTA_KIE_WEBHOOK_SECRET in the environment or `.env`, KIE's
`webhookHmacKey`), a callback is accepted only if `X-Webhook-Signature` is the Base64 HMAC-SHA256 of
"<taskId>.<X-Webhook-Timestamp>".
The same task may be called back more than once: a finished row is never changed again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..config import KIE_WEBHOOK_SECRET_VAR as SECRET_VAR
from ..providers.kie import parse_callback

__all__ = ["sign", "verify_signature", "handle_callback", "serve_callbacks", "SECRET_VAR"]

_MAX_BODY = 1 << 20


def sign(task_id: str, timestamp: str, secret: str) -> str:
    """Base64 HMAC-SHA256 of "<taskId>.<timestamp>" keyed with `secret` (KIE's scheme)."""
    mac = hmac.new(secret.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify_signature(task_id: str, timestamp: str | None, signature: str | None, secret: str) -> bool:
    """Whether `signature` is right for this task and timestamp (constant-time compare)."""
    if not timestamp or not signature:
        return False
    return hmac.compare_digest(sign(task_id, timestamp, secret).encode(), signature.strip().encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def handle_callback(
    store: Any, headers: Mapping[str, str], body: bytes, *, secret: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Verify and apply one callback; returns (HTTP status, JSON answer).

    200: applied, or already applied (idempotent). 400: not a KIE callback. 401: bad or missing
    signature. 404: a task this store never created.
    """
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return 400, {"error": "body is not JSON"}
    data = payload.get("data") if isinstance(payload, dict) else None
    task_id = (
        str((data or {}).get("taskId") or (data or {}).get("task_id") or "") if isinstance(data, dict) else ""
    )
    if not task_id:
        return 400, {"error": "no data.taskId in the callback"}
    if secret and not verify_signature(
        task_id, _header(headers, "X-Webhook-Timestamp"), _header(headers, "X-Webhook-Signature"), secret
    ):
        return 401, {"error": "signature does not match"}
    row = store.provider_task_by_id("kie", task_id)
    if row is None:
        return 404, {"error": f"unknown task {task_id}"}
    if row["status"] in ("succeeded", "failed") and (
        (row.get("result") or {}).get("urls") or (row.get("result") or {}).get("error")
    ):
        return 200, {"ok": True, "taskId": task_id, "status": row["status"], "note": "already recorded"}
    family = (row.get("result") or {}).get("family", "market")
    status = parse_callback(family, payload)
    if status.state == "succeeded":
        store.update_provider_task(
            row["key"], status="succeeded", result={"urls": status.urls, "via": "callback"}, keep_final=True
        )
    elif status.state == "failed":
        store.update_provider_task(
            row["key"],
            status="failed",
            result={
                "error": status.error or "generation failed",
                "error_code": status.error_code,
                "via": "callback",
            },
            keep_final=True,
        )
    else:
        store.update_provider_task(row["key"], status=status.state, keep_final=True)
    return 200, {"ok": True, "taskId": task_id, "status": status.state}


def serve_callbacks(
    db_path: str | Path, *, host: str = "127.0.0.1", port: int = 8765, secret: str | None = None
) -> ThreadingHTTPServer:
    """A small HTTP receiver for KIE callbacks (any path, POST). Call `.serve_forever()` on the result.

    `secret` defaults to FENTA_KIE_WEBHOOK_SECRET from the environment or `.env` (see
    `fenta.config.Settings`); pass `""` to accept unsigned callbacks. Put it behind your public HTTPS
    endpoint. Each request runs on its own thread with its own SQLite connection (WAL, busy timeout,
    BEGIN IMMEDIATE for the read-then-write), so concurrent callbacks never share a transaction.
    """
    from ..config import Settings
    from ..engine.store import JobStore

    if secret is None:
        secret = Settings.from_env().kie_webhook_secret
    secret = secret or None
    JobStore(db_path).close()  # create the schema (and fail on an unusable path) before listening

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                code, answer = 413, {"error": "body too large"}
            else:
                body = self.rfile.read(length)
                # One connection per request: sqlite3 connections are not shared across threads.
                store = JobStore(db_path)
                try:
                    code, answer = handle_callback(store, dict(self.headers.items()), body, secret=secret)
                except Exception as e:  # noqa: BLE001 - answer, so KIE retries, instead of dropping the connection
                    code, answer = 500, {"error": f"{type(e).__name__}: {e}"}
                finally:
                    store.close()
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return _Server((host, port), _Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # KIE may call back for many tasks at once; the default backlog is 5
