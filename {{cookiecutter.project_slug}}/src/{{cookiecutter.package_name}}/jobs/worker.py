"""Builds and runs the arq worker for our tasks, with its probes on `WORKER_HTTP_PORT`."""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import structlog
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.core.redis import retry_once
from {{ cookiecutter.package_name }}.jobs import metrics as job_metrics
from {{ cookiecutter.package_name }}.jobs._worker import schedule
from {{ cookiecutter.package_name }}.jobs.cron import Cron, check_schedules
from {{ cookiecutter.package_name }}.jobs.heartbeat import Heartbeat
from {{ cookiecutter.package_name }}.jobs.outage_tolerant import OutageTolerantWorker
from {{ cookiecutter.package_name }}.jobs.probes import start_probe_server
from {{ cookiecutter.package_name }}.jobs.queue import Queue
from {{ cookiecutter.package_name }}.jobs.registry import Task
from {{ cookiecutter.package_name }}.jobs.runner import as_arq_function, timeout_for
from {{ cookiecutter.package_name }}.jobs.serializer import deserialize, serialize

log = structlog.get_logger("worker")


class _WithoutPerJobLines(logging.Filter):
    """Drops arq's own lines per job: the runner logs each job's start and end with its context."""

    def filter(self, record: logging.LogRecord) -> bool:
        # arq's per-job messages, and only those, start with the job's elapsed time.
        return not (isinstance(record.msg, str) and record.msg.startswith("%6.2fs"))


# Once per process, for every worker this module builds.
logging.getLogger("arq.worker").addFilter(_WithoutPerJobLines())


def create_worker_redis(settings: Settings, queue: str = "default") -> ArqRedis:
    timeout = settings.redis_socket_timeout_seconds
    pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=retry_once(),
        retry_on_error=[RedisConnectionError],
    )
    return ArqRedis(
        connection_pool=pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_key(queue),
    )


def build_worker(
    settings: Settings,
    tasks: Sequence[Task[Any]],
    crons: Sequence[Cron] = (),
    *,
    queue: str = "default",
    burst: bool = False,
    handle_signals: bool = True,
) -> OutageTolerantWorker:
    """A worker for the tasks and crons of `queue` (the others are left to their own workers)."""
    tasks = [task for task in tasks if task.queue == queue]
    crons = [entry for entry in crons if entry.task.queue == queue]
    check_schedules(crons, settings)
    job_metrics.declare_tasks(task.name for task in tasks)

    async def startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings)
        ctx["engine"] = engine
        ctx["sessions"] = create_session_factory(engine)
        ctx["settings"] = settings
        if crons and not burst:
            cron_loop = schedule.run(
                crons, settings, Queue(ctx["redis"], settings), ctx["sessions"]
            )
            ctx["cron_loop"] = asyncio.create_task(cron_loop, name="cron")

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "cron_loop" in ctx:
            ctx["cron_loop"].cancel()
            await asyncio.gather(ctx["cron_loop"], return_exceptions=True)
        # Absent when the worker stopped while it still waited for Redis, before startup ran.
        if "engine" in ctx:
            await ctx["engine"].dispose()

    return OutageTolerantWorker(
        functions=[as_arq_function(task, settings) for task in tasks],
        heartbeat=Heartbeat(stall_after_seconds=settings.worker_stall_seconds),
        queue_name=settings.queue_key(queue),
        redis_pool=create_worker_redis(settings, queue),
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


async def serve(
    settings: Settings,
    tasks: Sequence[Task[Any]],
    crons: Sequence[Cron] = (),
    *,
    queue: str = "default",
) -> None:
    """Run the worker until SIGTERM or SIGINT, then drain; serve its probes meanwhile."""
    worker = build_worker(settings, tasks, crons, queue=queue)
    _warn_about_timeouts(settings, [task for task in tasks if task.queue == queue])
    probes = await start_probe_server(
        settings.worker_http_host, settings.worker_http_port, worker.heartbeat, worker.pool
    )
    log.info(
        "worker_started",
        tasks=[t.name for t in tasks],
        queue=queue,
        worker_id=worker.heartbeat.worker_id,
        redelivery_after_seconds=worker.in_progress_timeout_s,
    )
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        # arq ends a drain by cancelling its own main task; a cancellation of ours propagates.
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    finally:
        await worker.close()
        probes.close()
        await probes.wait_closed()
        log.info("worker_stopped")


def _warn_about_timeouts(settings: Settings, tasks: Sequence[Task[Any]]) -> None:
    """A task that may outlive the drain is cut off on every deploy and runs again later."""
    for task in tasks:
        if timeout_for(task, settings) > settings.worker_drain_seconds:
            log.warning(
                "task_timeout_exceeds_drain",
                task=task.name,
                timeout_seconds=timeout_for(task, settings),
                drain_seconds=settings.worker_drain_seconds,
            )
