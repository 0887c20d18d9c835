"""Fixtures for `fenta serve`: an app per test (in-process TestClient, or real uvicorn on 127.0.0.1), access
tokens by role, and queue workers in a thread (the same wiring the server's worker process runs)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="fenta serve needs the serve extra (Python 3.11+)")

from fenta.config import Settings  # noqa: E402
from fenta.serve.models import EXAMPLE_WORKFLOW  # noqa: E402

#: A workflow that renders offline in a second or two (360p, two gradient stills, espeak).
WORKFLOW: dict[str, Any] = json.loads(json.dumps(EXAMPLE_WORKFLOW))


@pytest.fixture(autouse=True)
def quick(monkeypatch) -> None:
    """Short polls so streams and workers notice changes at once."""
    monkeypatch.setenv("FENTA_POLL_SECONDS", "0.05")
    monkeypatch.setenv("FENTA_SCHEDULER_POLL", "0.2")


@pytest.fixture
def settings(fenta_home, quick) -> Settings:
    return Settings.from_env()


@pytest.fixture
def token(settings) -> Callable[..., str]:
    """token(role="owner", scopes=None, expires="90d") -> a new access token's secret."""
    from fenta.serve.access import create_token

    def make(
        role: str = "owner", scopes: list[str] | None = None, expires: str = "90d", name: str = "test"
    ) -> str:
        return create_token(settings, name=name, role=role, scopes=scopes, expires=expires)[0]

    return make


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def make_app(settings) -> Callable[..., Any]:
    """make_app(**ServeOptions fields) -> a new app on the test's FENTA_HOME."""
    from fenta.serve.app import create_app
    from fenta.serve.deps import ServeOptions

    def make(**options: Any) -> Any:
        return create_app(settings, ServeOptions(**options))

    return make


@pytest.fixture
def client(make_app) -> Iterator[Any]:
    """A TestClient (Starlette's streams responses: SSE works in-process)."""
    from fastapi.testclient import TestClient

    with TestClient(make_app(ping_seconds=0.2), base_url="http://127.0.0.1:8000") as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app on real uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app_factory: Callable[..., Any], **options: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app_factory(public_url=self.url, **options)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        from sse_starlette.sse import AppStatus

        self.server.should_exit = True
        self.thread.join(10)
        AppStatus.should_exit = False


@pytest.fixture
def live(make_app) -> Iterator[Callable[..., LiveServer]]:
    """live(**options) -> a started LiveServer (stopped after the test)."""
    started: list[LiveServer] = []

    def start(**options: Any) -> LiveServer:
        srv = LiveServer(make_app, **options).__enter__()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.__exit__()


@pytest.fixture
def workers(settings) -> Iterator[Callable[[int], None]]:
    """workers(n) starts `run_workers` in a thread (the server's worker wiring); stopped after the test."""
    from fenta.serve.workers import run_workers

    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(n: int = 1) -> None:
        t = threading.Thread(
            target=run_workers, args=(settings, n, stop), kwargs={"log": lambda m: None}, daemon=True
        )
        t.start()
        threads.append(t)

    yield start
    stop.set()
    for t in threads:
        t.join(30)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def sse_frames(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Frames of an SSE body, as dicts of their fields (comments under ':')."""
    frame: dict[str, str] = {}
    for line in lines:
        if line == "":
            if frame:
                yield frame
            frame = {}
            continue
        key, _, value = line.partition(":")
        frame[key] = frame[key] + "\n" + value.lstrip(" ") if key in frame else value.lstrip(" ")
    if frame:
        yield frame


def api_routes(app: Any) -> list[Any]:
    """The API's routes (FastAPI `APIRoute`s in the OpenAPI document), those of included routers too:
    FastAPI 0.165 keeps an included router's routes inside an `_IncludedRouter`, not in `app.routes`."""
    from fastapi.routing import APIRoute

    def walk(routes: list[Any]) -> Iterator[Any]:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from walk(inner.routes)
            elif isinstance(route, APIRoute) and route.include_in_schema:
                yield route

    return list(walk(app.routes))


REPO = Path(__file__).resolve().parents[2]
