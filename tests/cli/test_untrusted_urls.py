"""An untrusted workflow's `Input.Asset` URLs reach only public addresses: `fenta run --untrusted` and a
hosted row naming a URL on a loopback address (`127.1.2.3`, `localhost`, `[::1]`, or a public-looking
redirect that ends on one) fail with one line, and no connection reaches the listener behind it. The same
URL still works for the local user, who is trusted."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.supabase import supabase_fake  # noqa: F401


class Listener:
    """A TCP socket that counts the connections it accepts (and answers each with a tiny PNG)."""

    PNG = b""

    def __init__(self, host: str) -> None:
        if not Listener.PNG:
            from PIL import Image

            out = io.BytesIO()
            Image.new("RGB", (16, 16), (200, 40, 40)).save(out, "PNG")
            Listener.PNG = out.getvalue()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {len(self.PNG)}\r\n"
                conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + self.PNG)

    def close(self) -> None:
        self.sock.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def listeners() -> Iterator[dict[str, Listener]]:
    made = {"127.1.2.3": Listener("127.1.2.3"), "127.0.0.1": Listener("127.0.0.1")}
    if _ipv6_loopback():
        made["::1"] = Listener("::1")
    yield made
    for listener in made.values():
        listener.close()


def _urls(listeners: dict[str, Listener]) -> list[str]:
    urls = [
        f"http://127.1.2.3:{listeners['127.1.2.3'].port}/x.png",
        f"http://localhost:{listeners['127.0.0.1'].port}/x.png",
    ]
    if "::1" in listeners:
        urls.append(f"http://[::1]:{listeners['::1'].port}/x.png")
    return urls


def _workflow(url: str) -> str:
    return f"nodes:\n  media: {{type: Input.Asset, params: {{paths: ['{url}']}}}}\n"


def _fenta(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FENTA_ALLOW_PRIVATE_URLS"}
    return subprocess.run(
        [sys.executable, "-m", "fenta", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def test_run_untrusted_refuses_loopback_urls_and_nothing_reaches_them(listeners, fenta_home, tmp_path):
    for url in _urls(listeners):
        (tmp_path / "wf.yaml").write_text(_workflow(url))
        r = _fenta("run", "wf.yaml", "--untrusted", cwd=tmp_path)
        assert r.returncode == 2, (url, r.stdout, r.stderr)
        [line] = [ln for ln in r.stderr.splitlines() if "refused" in ln]  # the node's failure, in one line
        assert "node 'media'" in line and "FENTA_ALLOW_PRIVATE_URLS" in line, (url, r.stderr)
    assert {host: lst.connections for host, lst in listeners.items()} == {host: 0 for host in listeners}


def test_the_local_user_reaches_the_same_url(listeners, fenta_home, tmp_path):
    (tmp_path / "wf.yaml").write_text(_workflow(_urls(listeners)[0]))
    r = _fenta("run", "wf.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert listeners["127.1.2.3"].connections == 1


def test_hosted_rows_naming_loopback_urls_fail_with_one_line_and_nothing_reaches_them(
    listeners, supabase_fake, fenta_home, tmp_path
):
    urls = _urls(listeners)
    for i, url in enumerate(urls):
        doc = {"nodes": {"media": {"type": "Input.Asset", "params": {"paths": [url]}}}}
        supabase_fake.queue_job(doc, id=f"url-{i}")
    r = _fenta("worker", "--hosted", "--until-empty", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in supabase_fake.rows("jobs")}
    for i in range(len(urls)):
        row = rows[f"url-{i}"]
        assert row["status"] in ("failed", "dead") and row["retryable"] is False, row
        assert "\n" not in row["error"] and "refused" in row["error"], row["error"]
    assert {host: lst.connections for host, lst in listeners.items()} == {host: 0 for host in listeners}


@pytest.mark.parametrize("url", ["http://a..b.com/x.mp4", "http://[::1/x.mp4", "https://exa mple.com/x.mp4"])
def test_a_malformed_asset_url_is_a_validation_problem_naming_node_and_field(url, fenta_home, tmp_path):
    (tmp_path / "wf.yaml").write_text(_workflow(url))
    r = _fenta("validate", "wf.yaml", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "node 'media'" in r.stdout + r.stderr and "params.paths[0]" in r.stdout + r.stderr
