"""Durable jobs on arq: the only package that imports arq, so a queue swap stays here.

What features use:
    task, Task, Message     declare a task (`@task(queue=...)`) and capture a call  (registry.py)
    cron, Schedule          run a task on a schedule, once per scheduled time       (schedules.py)
    started_at_of           when a cron's schedule began                            (schedules.py)
    JobContext              what a task receives                                    (context.py)
    Backoff                 a task's retry policy                                   (retry.py)
    submit, Submitted       record, commit, then enqueue, with the caller's session (accept.py)
    get_status, JobView     a job's status: the history's final word, else Redis    (status.py)
    run_once                a side effect once per business key                     (effects.py)
    Queue, new_job_id       the producer, for enqueues outside a request            (queue.py)

What the web tier uses: `accept.Intake`, the accept path (rows group-committed, then enqueued;
`web/accept.py` puts it behind `SubmitDep`), and `metrics` (queue gauges it serves).

What the service's entry points use: `run_worker` and `run_burst` (the private `_worker` package:
runner, schedules, arq adapter, probes, worker metrics), `cli` (`dlq`), `dead_letters`. Every
write to the job history is `history`'s.
"""

from typing import TYPE_CHECKING

from chassis.jobs.accept import Submitted, submit
from chassis.jobs.context import JobContext
from chassis.jobs.effects import run_once
from chassis.jobs.models import JobRecord, JobStatus
from chassis.jobs.queue import Queue, new_job_id
from chassis.jobs.registry import DEFAULT_QUEUE, Message, Task, task
from chassis.jobs.retry import Backoff
from chassis.jobs.schedules import Schedule, ScheduleError, cron, started_at_of
from chassis.jobs.schemas import JobAccepted
from chassis.jobs.status import JobView, get_status

if TYPE_CHECKING:
    from chassis.settings import Settings


def run_worker(settings: "Settings", queue: str) -> None:
    """Run one queue's worker until SIGTERM or SIGINT, then drain (`SERVICE worker`)."""
    # Imported on call: the worker's metrics must not load in the web process (web/metrics.py).
    from chassis.jobs import _worker

    _worker.run_worker(settings, queue)


async def run_burst(settings: "Settings", queue: str = DEFAULT_QUEUE) -> None:
    """Run every due job of `queue`, then return (tests and one-off drains)."""
    from chassis.jobs import _worker

    await _worker.run_burst(settings, queue)


__all__ = [
    "Backoff",
    "JobAccepted",
    "JobContext",
    "JobRecord",
    "JobStatus",
    "JobView",
    "Message",
    "Queue",
    "Schedule",
    "ScheduleError",
    "Submitted",
    "Task",
    "cron",
    "get_status",
    "new_job_id",
    "run_burst",
    "run_once",
    "run_worker",
    "started_at_of",
    "submit",
    "task",
]
