"""Request count and latency, labelled by route template (never the raw path) and status."""

from chassis.core.metrics import metric_name
from prometheus_client import Counter, Histogram

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


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """`route` is the matched template (`/v1/jobs/{job_id}`) or `unmatched`: bounded cardinality."""
    labels = (method, route, str(status))
    REQUESTS.labels(*labels).inc()
    DURATION.labels(*labels).observe(seconds)
