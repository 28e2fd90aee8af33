"""Builds the arq worker from our settings and registered tasks."""

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.worker import Worker
from prometheus_client import start_http_server
from redis.asyncio import ConnectionPool

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.jobs import metrics as job_metrics
from {{ cookiecutter.package_name }}.jobs import scheduler
from {{ cookiecutter.package_name }}.jobs.cron import Cron
from {{ cookiecutter.package_name }}.jobs.registry import Task
from {{ cookiecutter.package_name }}.jobs.runner import as_arq_function
from {{ cookiecutter.package_name }}.jobs.serializer import deserialize, serialize

log = structlog.get_logger("worker")


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


class _PollRecordingWorker(Worker):
    """arq has no poll hook; `heart_beat` runs at the end of every poll iteration."""

    async def heart_beat(self) -> None:
        await super().heart_beat()
        job_metrics.record_poll()


def build_worker(
    settings: Settings,
    tasks: Sequence[Task[Any]],
    crons: Sequence[Cron] = (),
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    job_metrics.declare_tasks(task.name for task in tasks)

    async def startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings)
        ctx["engine"] = engine
        ctx["sessions"] = create_session_factory(engine)
        ctx["settings"] = settings
        if not burst:
            # Metrics for Prometheus, in a daemon thread: it answers even while the loop is busy.
            server, _thread = start_http_server(settings.worker_http_port)
            ctx["metrics_server"] = server
            await scheduler.catch_up(list(crons), settings, ctx["redis"])
        log.info("worker_started", tasks=[t.name for t in tasks], queue=settings.queue_name)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["engine"].dispose()
        if "metrics_server" in ctx:
            ctx["metrics_server"].shutdown()
        log.info("worker_stopped")

    return _PollRecordingWorker(
        functions=[as_arq_function(task, settings) for task in tasks],
        cron_jobs=[scheduler.as_arq_cron(entry, settings) for entry in crons],
        # Schedules are written in UTC; arq would read them in the host's local time.
        timezone=UTC,
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
        # Our runner logs every job with its context; arq's own result lines would repeat them.
        log_results=False,
    )
