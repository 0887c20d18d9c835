#!/usr/bin/env python3
"""`fenta serve` under load: status reads while two workers render, and submissions per second.

One run, on a fresh FENTA_HOME:

  1. `fenta serve --workers 2 --no-scheduler` starts as a real process group (API + worker process).
  2. Submissions: --jobs jobs (the 360p offline example, each with its own script so nothing is cached)
     are POSTed by --submitters concurrent clients; submissions per second = jobs / wall time.
  3. Polling: --pollers concurrent clients each GET /v1/jobs/{id} of one of those jobs every --interval
     seconds (0: back to back) for --seconds, while the two workers render the queue.
  4. SIGTERM: the group must stop with exit 0.

It prints the latency of the status reads (p50, p95, p99, max), how many jobs the workers finished
during the polling, every failed request, and whether "database is locked" appeared anywhere (answers
or the server's log). Last line:

  p50_ms=A p95_ms=B submits_per_s=C requests=N failed=F locked=L rendered=R

Usage: python bench/serve_bench.py [--pollers 50] [--interval 0.5] [--seconds 20] [--jobs 40]
                                   [--submitters 8] [--port 0] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from fenta.serve.models import EXAMPLE_WORKFLOW  # noqa: E402

SENTENCE = "Deep-sea fish glow in the dark, and each one makes its own light to hunt, hide and find a mate."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def _submit(
    url: str, headers: dict[str, str], n: int, concurrency: int
) -> tuple[list[str], float, list[str]]:
    """POST n jobs with `concurrency` clients; (job ids, wall seconds, failures)."""
    ids: list[str] = []
    failures: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "workflow": EXAMPLE_WORKFLOW,
                "vars": {"script": f"Video {i}. {SENTENCE} {SENTENCE}"},
                "name": f"bench-{i}",
            }
            r = await http.post("/v1/jobs", json=body, headers={**headers, "Idempotency-Key": f"bench-{i}"})
            if r.status_code == 202:
                ids.append(r.json()["id"])
            else:
                failures.append(f"POST /v1/jobs {r.status_code}: {r.text[:200]}")

    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency)
    ) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        return ids, time.perf_counter() - t0, failures


async def _poll(
    url: str, headers: dict[str, str], ids: list[str], pollers: int, interval: float, seconds: float
):
    """`pollers` clients read job status until `seconds` pass; (latencies in s, failures, statuses seen)."""
    latencies: list[float] = []
    failures: list[str] = []
    seen: dict[str, str] = {}
    deadline = time.monotonic() + seconds

    async def poller(k: int, http: httpx.AsyncClient) -> None:
        job = ids[k % len(ids)]
        await asyncio.sleep(interval * k / max(1, pollers))  # spread the first requests over one interval
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                r = await http.get(f"/v1/jobs/{job}", headers=headers)
            except httpx.HTTPError as e:
                failures.append(f"GET /v1/jobs/{job}: {type(e).__name__}: {e}")
                continue
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                failures.append(f"GET /v1/jobs/{job} {r.status_code}: {r.text[:200]}")
            else:
                seen[job] = r.json()["status"]
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))

    lags: list[float] = []

    async def ticker() -> None:
        """How late this client's own event loop wakes up: that delay is in every latency it measures."""
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t0 - 0.01)

    limits = httpx.Limits(max_connections=pollers, max_keepalive_connections=pollers)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await asyncio.gather(ticker(), *(poller(k, http) for k in range(pollers)))
    return latencies, failures, seen, lags


def _statuses(url: str, headers: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{url}/v1/jobs", params=params, headers=headers, timeout=30).json()
        for j in page["items"]:
            counts[j["status"]] = counts.get(j["status"], 0) + 1
        cursor = page["next_cursor"]
        if not cursor:
            return counts


def _server_side(url: str, headers: dict[str, str]) -> dict[str, float]:
    """The server's own histogram of GET /v1/jobs/{job_id} (time from the request's arrival to its answer,
    without the network or the client): bucket upper bound -> requests at most that long, and the count."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", headers=headers, timeout=30).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "fenta_http_request_duration_seconds":
            continue
        for s in family.samples:
            if s.labels.get("route") == "/v1/jobs/{job_id}" and s.labels.get("method") == "GET":
                if s.name.endswith("_bucket"):
                    out[s.labels["le"]] = s.value
                elif s.name.endswith("_count"):
                    out["count"] = s.value
    return out


def _cpu_pressure() -> str:
    """How much of the last 10 s some runnable task waited for a CPU (Linux PSI), "NN %"; "?" without PSI."""
    try:
        with open("/proc/pressure/cpu") as fh:
            return fh.readline().split()[1].split("=")[1] + " %"
    except (OSError, IndexError):
        return "?"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pollers", type=int, default=50)
    ap.add_argument(
        "--interval", type=float, default=0.5, help="seconds between one poller's requests (0: back to back)"
    )
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--submitters", type=int, default=8)
    ap.add_argument(
        "--workers", type=int, default=2, help="render workers of the server (0: no rendering, a baseline)"
    )
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="fenta-serve-bench-"))
    home = work / "home"
    env = {
        **os.environ,
        "FENTA_HOME": str(home),
        "FENTA_RATE_LIMIT": "100000/minute",
        "FENTA_MAX_RETRIES": "0",
    }
    fenta = [sys.executable, "-m", "fenta"]
    made = subprocess.run(
        [*fenta, "tokens", "create", "--name", "bench", "--role", "owner", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {json.loads(made.stdout)['token']}"}
    port = args.port or _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "w")
    server = subprocess.Popen(
        [*fenta, "serve", "--port", str(port), "--workers", str(args.workers), "--no-scheduler"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"fenta serve did not start: see {work / 'serve.log'}")
            time.sleep(0.1)
        load_before, pressure_before = os.getloadavg()[0], _cpu_pressure()
        ids, submit_wall, submit_failures = asyncio.run(_submit(url, headers, args.jobs, args.submitters))
        before = _statuses(url, headers)
        cpu0 = _cpu_seconds(server.pid)
        latencies, poll_failures, _, lags = asyncio.run(
            _poll(url, headers, ids, args.pollers, args.interval, args.seconds)
        )
        server_cpu = _cpu_seconds(server.pid) - cpu0
        inside = _server_side(url, headers)
        after = _statuses(url, headers)
        load_after, pressure_after = os.getloadavg()[0], _cpu_pressure()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(120)
        except subprocess.TimeoutExpired:
            server.kill()
            code = -9
        log.close()
    server_log = (work / "serve.log").read_text(errors="replace")
    failures = submit_failures + poll_failures
    locked = server_log.count("database is locked") + sum("database is locked" in f for f in failures)
    rendered = after.get("completed", 0) - before.get("completed", 0)
    ms = [v * 1000 for v in latencies]
    print(
        f"fenta serve --workers {args.workers} on {os.cpu_count()} cores; load average {load_before:.1f} "
        f"before, {load_after:.1f} after; CPU pressure (share of the last 10 s some task waited for a CPU) "
        f"{pressure_before} before, {pressure_after} after"
    )
    print(
        f"submissions: {len(ids)} jobs by {args.submitters} clients in {submit_wall:.2f} s = "
        f"{len(ids) / submit_wall:.1f}/s"
    )
    print(
        f"polling: {args.pollers} pollers every {args.interval:g} s for {args.seconds:g} s: {len(ms)} "
        f"requests ({len(ms) / args.seconds:.0f}/s)"
    )
    print(
        f"  GET /v1/jobs/{{id}}: p50 {_percentile(ms, 50):.1f} ms, p95 {_percentile(ms, 95):.1f} ms, p99 "
        f"{_percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms"
    )
    lag = [v * 1000 for v in lags]
    print(
        f"  the client's own event loop woke late by p50 {_percentile(lag, 50):.1f} ms, p95 "
        f"{_percentile(lag, 95):.1f} ms"
    )
    if inside.get("count"):
        within = {
            le: inside[le] / inside["count"] * 100 for le in ("0.01", "0.025", "0.05", "0.1") if le in inside
        }
        shares = ", ".join(f"{v:.1f} % within {float(le) * 1000:g} ms" for le, v in within.items())
        print(f"  measured inside the server (arrival to answer, no network or client): {shares}")
    print(
        f"  the API process used {server_cpu:.2f} CPU-s while polling: "
        f"{server_cpu / max(1, len(ms)) * 1000:.2f} ms per request"
    )
    print(f"  jobs completed while polling: {rendered} (states before {before}, after {after})")
    print(
        f"failed requests: {len(failures)}; 'database is locked': {locked}; server exit code after SIGTERM: "
        f"{code}"
    )
    for f in failures[:10]:
        print(f"  {f}")
    print(
        f"p50_ms={_percentile(ms, 50):.1f} p95_ms={_percentile(ms, 95):.1f} "
        f"submits_per_s={len(ids) / submit_wall:.1f} "
        f"requests={len(ms)} failed={len(failures)} locked={locked} rendered={rendered}"
    )
    return 0 if not failures and not locked and code == 0 and (rendered > 0 or not args.workers) else 1


if __name__ == "__main__":
    sys.exit(main())
