"""Durable jobs on arq: the only package that imports arq, so a queue swap stays here.

What features use:
    task, Task, Message     declare a task (`@task(queue=...)`) and capture a call  (registry.py)
    cron, Schedule          run a task on a schedule, once per scheduled time       (cron.py)
    started_at_of           when a cron's schedule began                            (cron.py)
    JobContext              what a task receives                                    (context.py)
    Backoff                 a task's retry policy                                   (retry.py)
    submit, Submitted       record, commit, then enqueue, with the caller's session (submit.py)
    get_status, JobView     a job's status: the history's final word, else Redis    (status.py)
    run_once                a side effect once per business key                     (run_once.py)
    Queue, new_job_id       the producer, for enqueues outside a request            (queue.py)

What the web tier uses: `intake.Intake`, the accept path (rows group-committed, then enqueued;
`web/submitter.py` puts it behind `SubmitDep`).

What the service's entry points use: `run_worker` and `run_burst` (the private `_worker` package:
runner, group-committed job history, schedules, arq adapter, probes), `backlog` (queue gauges the
web tier serves), `cli` (`dlq`), `dead_letters`.
"""

from typing import TYPE_CHECKING

from chassis.jobs.context import JobContext
from chassis.jobs.effects import run_once
from chassis.jobs.models import JobRecord, JobStatus
from chassis.jobs.queue import Queue, new_job_id
from chassis.jobs.registry import DEFAULT_QUEUE, Message, Task, task
from chassis.jobs.retry import Backoff
from chassis.jobs.schedules import Schedule, ScheduleError, cron, started_at_of
from chassis.jobs.schemas import JobAccepted
from chassis.jobs.status import JobView, get_status
from chassis.jobs.submit import Submitted, submit

if TYPE_CHECKING:
    from chassis.settings import Settings


def run_worker(settings: "Settings", queue: str) -> None:
    """Run one queue's worker until SIGTERM or SIGINT, then drain (`SERVICE worker`)."""
    # Imported on call: the worker's metrics must not load in the web process (core/exposition.py).
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
