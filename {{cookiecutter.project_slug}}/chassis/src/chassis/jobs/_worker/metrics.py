"""Worker metrics, in the default registry that the worker's HTTP port serves on /metrics.

Only the worker imports this module (it is in the private `_worker` package), so the web tier
never exposes a worker series: an alert on a missing worker heartbeat must not be satisfied by a
web replica. The web tier's metrics are `web/metrics.py`, which the worker never imports.

Every attempt that starts ends in exactly one of completed, failed or retried, so when the worker
is idle `started == completed + failed + retried` for each task.
"""

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from arq.typing import WorkerCoroutine
from arq.worker import Retry, RetryJob
from chassis.core.metrics import metric_name
from chassis.jobs.registry import DEFAULT_QUEUE
from prometheus_client import Counter, Gauge, Histogram

# From 5 ms to 10 min: tasks range from quick writes to long reports.
DURATION_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Queue wait spans "picked at once" to "a backlog of hours".
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200)

STARTED = Counter(metric_name("jobs_started_total"), "Job attempts started.", ["task"])
COMPLETED = Counter(metric_name("jobs_completed_total"), "Job attempts that succeeded.", ["task"])
FAILED = Counter(
    metric_name("jobs_failed_total"), "Job attempts that failed and will not run again.", ["task"]
)
RETRIED = Counter(
    metric_name("jobs_retried_total"),
    "Job attempts that ended and will run again (retry, or cut off by shutdown).",
    ["task"],
)
DEAD_JOBS = Counter(
    metric_name("jobs_dead_total"),
    "Jobs moved to the dead letters; reason is permanent, exhausted or cut_off.",
    ["task", "reason"],
)
DEAD_REASONS = ("permanent", "exhausted", "cut_off")
ATTEMPTS = Histogram(
    metric_name("job_attempts"),
    "Tries a job took before it completed or died.",
    ["task", "outcome"],
    buckets=(1, 2, 3, 5, 10, 25),
)
DURATION = Histogram(
    metric_name("job_duration_seconds"),
    "Run time of a job attempt, by outcome.",
    ["task", "outcome"],
    buckets=DURATION_BUCKETS,
)
QUEUE_WAIT = Histogram(
    metric_name("job_queue_wait_seconds"),
    "Time from when a job became due (its enqueue time, unless deferred) to its start.",
    ["task"],
    buckets=WAIT_BUCKETS,
)
IN_PROGRESS = Gauge(metric_name("jobs_in_progress"), "Job attempts running now.", ["task"])
LAST_POLL = Gauge(
    metric_name("worker_last_poll_timestamp_seconds"),
    "Unix time of this worker's last poll of its queue or job start.",
    ["queue"],
)
# This process's series: a worker serves one queue (set by `declare_tasks`).
_last_poll = LAST_POLL.labels(DEFAULT_QUEUE)

_OUTCOME_COUNTERS = {"completed": COMPLETED, "failed": FAILED, "retried": RETRIED}


def declare_tasks(queue: str, names: Iterable[str]) -> None:
    """Create the queue's and every task's series, so `increase()` sees the first job of each."""
    global _last_poll
    _last_poll = LAST_POLL.labels(queue)
    for name in names:
        for counter in (STARTED, COMPLETED, FAILED, RETRIED):
            counter.labels(name)
        for reason in DEAD_REASONS:
            DEAD_JOBS.labels(name, reason)


def record_poll() -> None:
    """A sign of life. A busy worker polls only when a slot frees, so job starts count too."""
    _last_poll.set_to_current_time()


def record_dead(task: str, reason: str, attempts: int) -> None:
    """Called where a job is written to the dead letters."""
    DEAD_JOBS.labels(task, reason).inc()
    ATTEMPTS.labels(task, "dead").observe(attempts)


def record_complete(task: str, attempts: int) -> None:
    ATTEMPTS.labels(task, "complete").observe(attempts)


def outcome_of(error: BaseException | None) -> str:
    """How arq treats what the task raised: only Retry and cancellation run the job again."""
    if error is None:
        return "completed"
    if isinstance(error, Retry | RetryJob | asyncio.CancelledError):
        return "retried"
    return "failed"


def instrumented(task: str, run: WorkerCoroutine) -> WorkerCoroutine:
    """Wrap the coroutine arq calls, so the outcome is the one arq acts on."""

    async def metered(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
        _record_start(task, ctx)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await run(ctx, *args, **kwargs)
        except BaseException as exc:  # recorded, then re-raised untouched
            error = exc
            raise
        finally:
            outcome = outcome_of(error)
            IN_PROGRESS.labels(task).dec()
            _OUTCOME_COUNTERS[outcome].labels(task).inc()
            DURATION.labels(task, outcome).observe(time.perf_counter() - started)

    return metered


def _record_start(task: str, ctx: dict[Any, Any]) -> None:
    record_poll()
    STARTED.labels(task).inc()
    IN_PROGRESS.labels(task).inc()
    # arq's score is when the job became due: its enqueue time, pushed later by a defer or a retry.
    due = ctx.get("score")
    enqueued: datetime | None = ctx.get("enqueue_time")
    due_seconds = due / 1000 if due else enqueued.timestamp() if enqueued else None
    if due_seconds is not None:
        QUEUE_WAIT.labels(task).observe(max(time.time() - due_seconds, 0.0))
