"""A webhook receiver on 127.0.0.1 that verifies every request with the `standardwebhooks` package.

    with Receiver(answers=[500, 500, 200]) as rx:     # then 200 for ever after
        rx.secret = endpoint.secret
        ...
        rx.requests[0].verified   # the parsed body when the signature checked out, else None

An answer is a status code, or (status, headers) e.g. (429, {"Retry-After": "120"}), or
("sleep", seconds) to answer 200 only after that long.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: Any = None
    error: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class Receiver:
    def __init__(self, answers: list | None = None, secret: str | None = None) -> None:
        self.answers = list(answers or [])
        self.secret = secret
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n)
                req = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if rx.secret:
                    try:
                        req.verified = Webhook(rx.secret).verify(body, dict(self.headers))
                    except Exception as e:
                        req.error = f"{type(e).__name__}: {e}"
                else:
                    req.error = "no secret"
                with rx._lock:
                    rx.requests.append(req)
                    answer = rx.answers.pop(0) if rx.answers else 200
                headers: dict[str, str] = {}
                if isinstance(answer, tuple) and answer[0] == "sleep":
                    time.sleep(answer[1])
                    answer = 200
                elif isinstance(answer, tuple):
                    answer, headers = answer
                self.send_response(answer)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verified(self, type: str | None = None) -> list[dict]:
        """Bodies of the requests whose signature checked out (of one event type)."""
        return [
            r.verified
            for r in self.requests
            if r.verified is not None and (type is None or r.verified["type"] == type)
        ]

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        end = time.time() + timeout
        while len(self.requests) < n and time.time() < end:
            time.sleep(0.02)
