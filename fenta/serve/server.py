"""`fenta serve`: the API (uvicorn), the render workers and the scheduler as one supervised group.

    serve(settings, host="127.0.0.1", port=8000, workers=2, scheduler=True)

SIGTERM or Ctrl-C stops the group cleanly: the server stops taking requests (open SSE streams end), the
workers let running nodes finish and give their jobs back to the queue, the scheduler releases its lock,
exit 0. A second signal cancels running nodes.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..errors import ServeError
from .logs import check_format, setup_logging

__all__ = ["serve", "is_loopback"]


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _usable_tokens(settings: Settings) -> int:
    from .store import ServeStore

    store = ServeStore(settings)
    try:
        return store.usable_tokens(time.time())
    finally:
        store.close()


def _allowed_hosts(host: str, public_url: str | None) -> list[str]:
    """Host headers MCP answers besides this machine's: the public URL's (a proxy in front), or any when
    the server listens beyond loopback (then the operator's proxy or firewall decides who reaches it)."""
    if not is_loopback(host):
        return ["*"]
    if public_url:
        import httpx

        name = httpx.URL(public_url).host
        return [name, f"{name}:*"] if name else []
    return []


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one line (exit 2), not uvicorn's exit 1."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}", field="--port") from None
    sock.set_inheritable(True)
    return sock


def _scheduler(settings: Settings, log: Callable[[str], None]) -> tuple[Any, threading.Thread]:
    from ..ops.scheduler import Scheduler, SchedulerLock

    probe = SchedulerLock(settings.home)
    probe.acquire()  # another scheduler on this FENTA_HOME: ScheduleError names it (exit 2), nothing runs
    probe.release()
    daemon = Scheduler(settings, workers=0, log=log)  # it only queues; the server's workers run the jobs
    thread = threading.Thread(
        target=lambda: daemon.run(signals=False), name="fenta-serve-scheduler", daemon=True
    )
    thread.start()
    return daemon, thread


@contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    previous = {sig: signal.signal(sig, lambda *_: handler()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    scheduler: bool = True,
    log_format: str | None = None,
    cors_origins: list[str] | None = None,
    public_url: str | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the group in the foreground until SIGTERM or Ctrl-C.

    Raises:
        ServeError: a bad log format, rate limit or port; a non-loopback address with no access token
            (exit 2).
        ScheduleError: another scheduler runs for this FENTA_HOME (run with --no-scheduler).
    """
    import uvicorn
    from sse_starlette.sse import AppStatus

    from .app import create_app
    from .deps import ServeOptions
    from .workers import WorkerGroup

    fmt = check_format(log_format or settings.log_format)
    tokens = _usable_tokens(settings)
    if not is_loopback(host) and tokens == 0:
        raise ServeError(
            f"refusing to listen on {host} with no access token: anyone who reaches it could use the API. "
            "Create one first (`fenta tokens create --name admin --role owner`), or listen on 127.0.0.1",
            field="--host",
        )
    lines = setup_logging(fmt, plain=True)
    assert lines is not None
    shown = f"[{host}]" if ":" in host else host
    options = ServeOptions(
        public_url=(
            public_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}"
        ).rstrip("/"),
        cors_origins=tuple(cors_origins) if cors_origins else None,
        allowed_hosts=_allowed_hosts(host, public_url),
    )
    app = create_app(settings, options)
    sock = _listen(host, port)
    port = sock.getsockname()[1]

    class _Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:  # the group handles signals (below), not uvicorn alone
            yield

    server = _Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
            timeout_keep_alive=30,  # pollers reuse connections: a short keep-alive races their next request
            lifespan="on",
            server_header=False,
        )
    )
    group = WorkerGroup(settings, workers, log_format=fmt, log=lines.line).start()
    daemon, daemon_thread = _scheduler(settings, lines.line) if scheduler else (None, None)
    stops = 0

    def on_signal() -> None:
        nonlocal stops
        stops += 1
        server.should_exit = True
        AppStatus.should_exit = True  # SSE streams end now instead of holding the shutdown
        group.stop(now=stops > 1)
        if daemon is not None:
            daemon.stop()
        if stops > 1:
            server.force_exit = True

    where = f"http://{shown}:{port}"
    announce(
        f"fenta serve {where}  (dashboard {where}/, API {where}/v1, docs {where}/docs, MCP {where}/mcp, "
        f"metrics {where}/metrics); "
        f"{workers} worker(s), scheduler {'on' if scheduler else 'off'}, FENTA_HOME {settings.home}; Ctrl-C "
        "stops it"
    )
    if tokens == 0:
        announce(
            "no access token yet: every route but /v1/health answers 401. Create one: fenta tokens create "
            "--name me --role owner"
        )
    try:
        with _signals(on_signal):
            server.run(sockets=[sock])
            lines.line("server stopped; waiting for the workers to give their jobs back")
            group.stop()
            group.join()
    finally:
        group.stop()
        if daemon is not None:
            daemon.stop()
            if daemon_thread is not None:
                daemon_thread.join(10)
        sock.close()
        AppStatus.should_exit = False
    lines.line("fenta serve stopped")
