"""Builds the arq worker from our settings and registered tasks."""

import logging
from collections.abc import Sequence
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import ConnectionPool

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.jobs.history_writer import HistoryWriter
from {{ cookiecutter.package_name }}.jobs.registry import Task
from {{ cookiecutter.package_name }}.jobs.runner import as_arq_function
from {{ cookiecutter.package_name }}.jobs.serializer import deserialize, serialize

log = structlog.get_logger("worker")


class _WithoutPerJobLines(logging.Filter):
    """Drops arq's own lines per job: the runner logs each job's start and end with its context."""

    def filter(self, record: logging.LogRecord) -> bool:
        # arq's per-job messages, and only those, start with the job's elapsed time.
        return not (isinstance(record.msg, str) and record.msg.startswith("%6.2fs"))


# Once per process, for every worker this module builds.
logging.getLogger("arq.worker").addFilter(_WithoutPerJobLines())


def create_worker_redis(settings: Settings) -> ArqRedis:
    timeout = settings.redis_socket_timeout_seconds
    pool = ConnectionPool.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    return ArqRedis(
        connection_pool=pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )


def build_worker(
    settings: Settings,
    tasks: Sequence[Task[Any]],
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings)
        ctx["engine"] = engine
        ctx["sessions"] = create_session_factory(engine)
        ctx["settings"] = settings
        ctx["history"] = HistoryWriter(engine)
        ctx["history"].start()
        log.info("worker_started", tasks=[t.name for t in tasks], queue=settings.queue_name)

    async def shutdown(ctx: dict[str, Any]) -> None:
        # arq has awaited every job by now; a write that still comes is written on its own.
        await ctx["history"].close()
        await ctx["engine"].dispose()
        log.info("worker_stopped")

    return Worker(
        functions=[as_arq_function(task, settings) for task in tasks],
        queue_name=settings.queue_name,
        redis_pool=create_worker_redis(settings),
        burst=burst,
        handle_signals=handle_signals,
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.worker_max_jobs,
        poll_delay=settings.worker_poll_delay_seconds,
        job_timeout=settings.job_timeout_seconds,
        keep_result=settings.job_keep_result_seconds,
        job_completion_wait=settings.worker_drain_seconds,
        job_serializer=serialize,
        job_deserializer=deserialize,
        # arq's per-job lines are dropped above; this also spares formatting each result for them.
        log_results=False,
    )
