"""Durable jobs on arq: the only package that imports arq, so a queue swap stays here.

What features use:
    task, Task, Message     declare a task (`@task(queue=...)`) and capture a call  (registry.py)
    cron                    run a task on a schedule, once per scheduled time       (cron.py)
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

from {{ cookiecutter.package_name }}.jobs.context import JobContext
from {{ cookiecutter.package_name }}.jobs.cron import cron
from {{ cookiecutter.package_name }}.jobs.models import JobRecord, JobStatus
from {{ cookiecutter.package_name }}.jobs.queue import Queue, new_job_id
from {{ cookiecutter.package_name }}.jobs.registry import DEFAULT_QUEUE, Message, Task, task
from {{ cookiecutter.package_name }}.jobs.retry import Backoff
from {{ cookiecutter.package_name }}.jobs.run_once import run_once
from {{ cookiecutter.package_name }}.jobs.status import JobView, get_status
from {{ cookiecutter.package_name }}.jobs.submit import Submitted, submit

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.config import Settings


def run_worker(settings: "Settings", queue: str) -> None:
    """Run one queue's worker until SIGTERM or SIGINT, then drain (`{{ cookiecutter.project_slug }} worker`)."""
    # Imported on call: the worker's metrics must not load in the web process (core/exposition.py).
    from {{ cookiecutter.package_name }}.jobs import _worker

    _worker.run_worker(settings, queue)


async def run_burst(settings: "Settings", queue: str = DEFAULT_QUEUE) -> None:
    """Run every due job of `queue`, then return (tests and one-off drains)."""
    from {{ cookiecutter.package_name }}.jobs import _worker

    await _worker.run_burst(settings, queue)


__all__ = [
    "Backoff",
    "JobContext",
    "JobRecord",
    "JobStatus",
    "JobView",
    "Message",
    "Queue",
    "Submitted",
    "Task",
    "cron",
    "get_status",
    "new_job_id",
    "run_burst",
    "run_once",
    "run_worker",
    "submit",
    "task",
]
