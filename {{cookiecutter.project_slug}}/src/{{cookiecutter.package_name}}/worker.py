"""The worker process. Import each task module here so its `@task`s register."""

import asyncio

import structlog

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.digests import tasks as digest_tasks
from {{ cookiecutter.package_name }}.jobs import registered_crons, registered_tasks
from {{ cookiecutter.package_name }}.jobs.worker import build_worker
from {{ cookiecutter.package_name }}.reports import tasks as report_tasks

TASK_MODULES = (report_tasks, digest_tasks)


def run(settings: Settings) -> None:
    """Run the worker until SIGTERM or SIGINT, then drain running jobs."""
    configure_logging(json=settings.json_logs, level=settings.log_level)
    # arq's Worker looks up the current event loop when it is built.
    asyncio.set_event_loop(asyncio.new_event_loop())
    build_worker(settings, registered_tasks(), registered_crons()).run()


async def run_burst(settings: Settings) -> None:
    """Run every job that is due, then return (tests and one-off drains)."""
    structlog.contextvars.clear_contextvars()
    worker = build_worker(
        settings, registered_tasks(), registered_crons(), burst=True, handle_signals=False
    )
    try:
        await worker.main()
    finally:
        await worker.close()
