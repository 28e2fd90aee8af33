"""Retry and dead-letter metrics of the worker, in prometheus_client's default registry."""

from prometheus_client import Counter, Histogram

from {{ cookiecutter.package_name }}.core.metrics import metric_name

JOBS_RETRIED = Counter(
    metric_name("jobs_retried_total"),
    "Attempts that failed transiently and were scheduled to run again.",
    ["task"],
)
JOBS_DEAD_LETTERED = Counter(
    metric_name("jobs_dead_lettered_total"),
    "Jobs recorded as dead letters; reason is permanent, exhausted or cut_off.",
    ["task", "reason"],
)
JOB_ATTEMPTS = Histogram(
    metric_name("job_attempts"),
    "Tries a job took before it completed or died.",
    ["task", "outcome"],
    buckets=(1, 2, 3, 5, 10, 25),
)
