"""`/metrics`: Prometheus text format (needs a token with `metrics:read`).

Counted in this process: HTTP requests by method, route and status, their latency (SSE streams left
out), open SSE streams, jobs submitted by source, MCP tool calls by outcome, auth failures by reason,
rate-limited requests. Read from fenta.db at scrape time, so they are right whichever process did the work
(the render workers are other processes): jobs by state (queue depth), the oldest queued job's creation
time, job and node durations (histograms by outcome and node type), retries, dead letters, webhook
deliveries by status, provider calls and cost.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .access import Principal
from .deps import require, state
from .problems import responses

__all__ = ["Metrics", "router"]

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
_NODE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_STATES = ("queued", "running", "failed", "completed", "dead", "cancelled")
#: Routes that stream for as long as the client stays (the dashboard follows the same streams).
_STREAM_ROUTES = ("/v1/jobs/{job_id}/events", "/v1/events", "/jobs/{job_id}/events", "/events")


def _histogram(
    name: str, doc: str, labels: list[str], rows: list[dict[str, Any]], buckets: tuple[float, ...]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for r in rows:
        points = [(repr(float(b)), float(n)) for b, n in zip(buckets, r["buckets"])] + [
            ("+Inf", float(r["count"]))
        ]
        family.add_metric(list(r["labels"]), points, r["sum"])
    return family


class _FromDatabase(Collector):
    """Figures read from fenta.db on every scrape."""

    def __init__(self, stores: Any) -> None:
        self.stores = stores

    def collect(self) -> Iterator[Metric]:
        store = self.stores.get().jobs
        states = store.job_states()
        jobs = GaugeMetricFamily(
            "fenta_jobs",
            "Jobs by state (queued = queue depth), read from fenta.db at scrape time",
            labels=["state"],
        )
        for s in _STATES:
            jobs.add_metric([s], float(states.get(s, 0)))
        yield jobs
        oldest = store.oldest_queued()
        if oldest is not None:
            yield GaugeMetricFamily(
                "fenta_queue_oldest_job_created_timestamp_seconds",
                "When the oldest queued job was created (Unix time)",
                value=oldest,
            )
        yield _histogram(
            "fenta_job_duration_seconds",
            "Finished jobs' run time, start to end, by outcome",
            ["outcome"],
            store.job_durations(_JOB_BUCKETS),
            _JOB_BUCKETS,
        )
        yield _histogram(
            "fenta_node_duration_seconds",
            "Node run time by node type and outcome",
            ["node_type", "outcome"],
            store.node_durations(_NODE_BUCKETS),
            _NODE_BUCKETS,
        )
        counts = store.event_counts(["job.retrying", "job.dead"])
        yield CounterMetricFamily("fenta_job_retries", "Job retries scheduled", value=counts["job.retrying"])
        yield CounterMetricFamily(
            "fenta_jobs_dead",
            "Jobs moved to the dead letters (no retry left or not retryable)",
            value=counts["job.dead"],
        )
        deliveries = GaugeMetricFamily(
            "fenta_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        found = store.delivery_states()
        for s in sorted({"pending", "delivered", "failed", *found}):
            deliveries.add_metric([s], float(found.get(s, 0)))
        yield deliveries
        calls = CounterMetricFamily(
            "fenta_provider_calls", "Provider calls recorded (usage records)", labels=["provider"]
        )
        cost = CounterMetricFamily(
            "fenta_provider_cost_usd", "Money spent on providers, in US dollars", labels=["provider"]
        )
        for provider, n, usd in store.provider_usage():
            calls.add_metric([provider], float(n))
            cost.add_metric([provider], usd)
        yield calls
        yield cost


class Metrics:
    """The metrics of one app (its own registry, so apps in one process never share counters)."""

    def __init__(self, stores: Any) -> None:
        from .. import __version__

        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "fenta_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "fenta_http_request_duration_seconds",
            "Time to answer an HTTP request (SSE streams left out)",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self.sse_streams = Gauge("fenta_sse_streams", "SSE streams open now", registry=r)
        self.submitted = Counter(
            "fenta_jobs_submitted", "Jobs queued through this server, by source", ["source"], registry=r
        )
        self.tool_calls = Counter(
            "fenta_mcp_tool_calls", "MCP tool calls by tool and outcome", ["tool", "outcome"], registry=r
        )
        self.auth_failures = Counter(
            "fenta_auth_failures",
            "Requests refused by authentication or permission, by reason",
            ["reason"],
            registry=r,
        )
        self.limited = Counter("fenta_rate_limited", "Requests refused by the rate limit", registry=r)
        info = Gauge("fenta_build_info", "The running fenta (always 1)", ["version", "python"], registry=r)
        info.labels(__version__, platform.python_version()).set(1)
        for reason in ("missing", "malformed", "unknown", "expired", "revoked", "scope"):
            self.auth_failures.labels(reason)
        for source in ("api", "mcp", "dashboard"):
            self.submitted.labels(source)
        r.register(_FromDatabase(stores))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        if route not in _STREAM_ROUTES:
            self.latency.labels(method, route).observe(seconds)

    def auth_failed(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    def rate_limited(self) -> None:
        self.limited.inc()

    def job_submitted(self, source: str) -> None:
        self.submitted.labels(source).inc()

    def tool_called(self, tool: str, outcome: str) -> None:
        self.tool_calls.labels(tool, outcome).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)


router = APIRouter(tags=["observability"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        },
        **responses(),
    },
    summary="Prometheus metrics",
)
def metrics(request: Request, _: Principal = require("metrics:read")) -> Response:
    """Everything above, in the Prometheus text format (scrape with
    `authorization: {credentials: fenta_pat_...}`)."""
    return Response(state(request).metrics.text(), media_type=CONTENT_TYPE_LATEST)
