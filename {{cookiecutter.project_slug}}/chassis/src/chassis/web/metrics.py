"""Every metric the web tier serves, and its `GET /metrics`.

Metrics have a home per process, because a process's registry holds what it imported: this module
(the web tier), `jobs/_worker/metrics.py` (the worker: its own port, never the web tier's series),
`jobs/metrics.py` (queue gauges, computed at scrape time and registered nowhere), and
`core/metrics.py` (the names and the multi-process directory, set up before prometheus_client may
load). The worker never imports this module, nor the web tier the worker's.

With several uvicorn workers (`PROMETHEUS_MULTIPROC_DIR`), a scrape adds up the files of every
process, dead ones included, so totals never drop.
"""

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from chassis.core.metrics import MULTIPROCESS_ENV, metric_name
from chassis.jobs import metrics as job_metrics
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from chassis.web.resources import Resources

# Prometheus' defaults with a 25 ms step, where most API answers fall.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10)

REQUESTS = Counter(
    metric_name("http_requests_total"),
    "HTTP requests answered.",
    ["method", "route", "status"],
)
DURATION = Histogram(
    metric_name("http_request_duration_seconds"),
    "Time to answer an HTTP request.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
RATE_LIMIT_DECISIONS = Counter(
    metric_name("rate_limit_decisions_total"),
    "Rate-limit decisions per policy: allowed, limited, fail_open, fail_closed.",
    ["policy", "decision"],
)
IDEMPOTENCY_OUTCOMES = Counter(
    metric_name("idempotency_requests_total"),
    "Requests with an Idempotency-Key by outcome: claimed, replayed, in_flight, "
    "payload_mismatch, invalid, stored, released, claim_expired, store_failed.",
    ["outcome"],
)
# The in-process background tiers (`web/background.py`): after the response, and spawned.
BACKGROUND_TIERS = ("after_response", "fanout")
BACKGROUND_SPAWNED = Counter(
    metric_name("background_tasks_spawned_total"),
    "In-process background tasks started, by tier.",
    ["tier"],
)
BACKGROUND_FAILED = Counter(
    metric_name("background_tasks_failed_total"),
    "In-process background tasks that raised, by tier.",
    ["tier"],
)
BACKGROUND_CANCELLED = Counter(
    metric_name("background_tasks_cancelled_total"),
    "In-process background tasks cut off by shutdown before they finished, by tier.",
    ["tier"],
)
for _tier in BACKGROUND_TIERS:  # export zeros, so rate() and alerts see every series
    for _counter in (BACKGROUND_SPAWNED, BACKGROUND_FAILED, BACKGROUND_CANCELLED):
        _counter.labels(tier=_tier)

router = APIRouter(tags=["metrics"])


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """`route` is the matched template (`/v1/jobs/{job_id}`) or `unmatched`: bounded cardinality."""
    labels = (method, route, str(status))
    REQUESTS.labels(*labels).inc()
    DURATION.labels(*labels).observe(seconds)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """This tier's metrics, plus the queue gauges computed for this scrape."""
    # Read from the request rather than through ResourcesDep: `web/resources.py` imports the
    # modules that count into this one.
    resources: Resources = request.state.resources
    families = await job_metrics.collect(resources.queue, resources.sessions)
    return Response(render(families), media_type=CONTENT_TYPE_LATEST)


def render(extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition of this tier's metrics plus `extra`, computed once for this scrape."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS_ENV in os.environ:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    else:
        registry.register(REGISTRY)
    registry.register(_Computed(extra))
    return generate_latest(registry)


class _Computed(Collector):
    """A collector for families computed before the scrape (async work cannot run in collect)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)
