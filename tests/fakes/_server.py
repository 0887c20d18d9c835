"""A small threaded HTTP server base for fakes: routing, JSON helpers, request log, switchable faults."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    """One request the fake received (for assertions on the fake side)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def q(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[0] if v else None


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None  # send a Content-Length larger than the body, then close

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[Request, re.Match], Reply]


class FakeServer:
    """Base fake: subclasses register routes with `self.route(method, regex, handler)`.

    Attributes:
        requests: Every request received, in order.
        faults: A queue of Replies served instead of the next matching requests (`fail_next`).
    """

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        self.requests: list[Request] = []
        self.faults: list[tuple[str | None, Reply]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"$"), handler))

    def fail_next(self, reply: Reply, times: int = 1, path_contains: str | None = None) -> None:
        """Serve `reply` instead of the next `times` requests (optionally only to matching paths)."""
        with self.lock:
            self.faults += [(path_contains, reply)] * times

    def cut_at(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> int | None:
        """Bytes of this request's body to read before the connection drops (None: serve it whole).
        Subclasses override it to simulate a connection lost mid-upload."""
        return None

    def on_cut(self, req: Request) -> None:
        """What the server keeps of a request whose connection dropped (`cut_at`)."""

    def requests_to(self, path_part: str) -> list[Request]:
        return [r for r in self.requests if path_part in r.path]

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self, port: int = 0, host: str = "127.0.0.1") -> FakeServer:
        """Serve on `host`:`port` (0: a free port) in a daemon thread; `host` is a loopback address
        (127.x.y.z or ::1)."""
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _serve(self) -> None:
                u = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k: v for k, v in self.headers.items()}
                cut = fake.cut_at(self.command, u.path, parse_qs(u.query), headers)
                if cut is not None:  # a connection dropped mid-body: read `cut` bytes, answer nothing
                    partial = self.rfile.read(min(cut, length))
                    req = Request(self.command, u.path, parse_qs(u.query), headers, partial)
                    with fake.lock:
                        fake.requests.append(req)
                    fake.on_cut(req)
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, u.path, parse_qs(u.query), headers, body)
                with fake.lock:
                    fake.requests.append(req)
                    fault = None
                    for i, (part, canned) in enumerate(fake.faults):
                        if part is None or part in u.path:
                            fault = canned
                            del fake.faults[i]
                            break
                reply = fault or fake.dispatch(req)
                fake.send(self, reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        class _Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                # Clients that hang up early (timeouts, truncation tests) are expected here.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self._server = _Server((host, port), _H)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_by_hand(self, env: dict[str, str]) -> None:
        """Print the variables that point fenta at this (started) fake, serve until Ctrl-C."""
        print("export " + " ".join(f"{k}={v}" for k, v in env.items()), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------

    def dispatch(self, req: Request) -> Reply:
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                return handler(req, m)
        return Reply(404, {"error": f"no route for {req.method} {req.path}"})

    @staticmethod
    def send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        data, ctype = reply.encoded()
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", ctype)
            for k, v in reply.headers.items():
                if k.lower() != "content-type":
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            if reply.truncate_to is not None:
                h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data[: reply.truncate_to] if reply.truncate_to is not None else data)
            if reply.truncate_to is not None:
                h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass
