"""The worker process. Import each task module here so its `@task`s register."""

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.digests import tasks as digest_tasks
from {{ cookiecutter.package_name }}.jobs import Task, registered_crons, registered_tasks
from {{ cookiecutter.package_name }}.jobs.worker import build_worker, serve
from {{ cookiecutter.package_name }}.reports import tasks as report_tasks

TASK_MODULES = (report_tasks, digest_tasks)


def run(
    settings: Settings, tasks: Sequence[Task[Any]] | None = None, *, queue: str = "default"
) -> None:
    """Run the worker of `queue` until SIGTERM or SIGINT, then drain running jobs.

    Raises `ScheduleError` before starting if the schedule of one of its crons is bad.
    """
    configure_logging(json=settings.json_logs, level=settings.log_level)
    if tasks is None:
        asyncio.run(serve(settings, registered_tasks(), registered_crons(), queue=queue))
    else:
        # An explicit task list (tests) runs those tasks only, without the schedules.
        asyncio.run(serve(settings, tasks, queue=queue))


async def run_burst(settings: Settings, *, queue: str = "default") -> None:
    """Run every job of `queue` that is due, then return (tests and one-off drains)."""
    structlog.contextvars.clear_contextvars()
    worker = build_worker(
        settings,
        registered_tasks(),
        registered_crons(),
        queue=queue,
        burst=True,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
