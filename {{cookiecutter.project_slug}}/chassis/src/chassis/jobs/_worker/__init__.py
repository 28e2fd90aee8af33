"""The worker process: one queue's tasks and schedules on arq, with probes on `WORKER_HTTP_PORT`.

runner.py     one delivery: claim, run under a timeout, record the outcome
scheduler.py  the cron loop: enqueues each scheduled time once
_arq.py       the only module that reaches into arq's Worker
heartbeat.py, probes.py, metrics.py   liveness and what Prometheus scrapes

Its claims and outcomes go through the job history's writer (`jobs/history/`), group-committed.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import structlog
from arq.connections import ArqRedis
from chassis.core.db import create_engine, create_session_factory
from chassis.core.heap import frozen_startup_heap
from chassis.core.logging import configure_logging
from chassis.core.redis import connection_pool
from chassis.jobs._worker import metrics as job_metrics
from chassis.jobs._worker import scheduler
from chassis.jobs._worker._arq import Worker
from chassis.jobs._worker.heartbeat import Heartbeat
from chassis.jobs._worker.probes import start_probe_server
from chassis.jobs._worker.runner import as_arq_function, timeout_for
from chassis.jobs.history import Writer
from chassis.jobs.queue import Queue
from chassis.jobs.registry import DEFAULT_QUEUE, Task, registered_tasks
from chassis.jobs.schedules import Cron, check_schedules, registered_crons
from chassis.jobs.serializer import deserialize, serialize
from chassis.settings import Settings

log = structlog.get_logger("worker")


class _WithoutPerJobLines(logging.Filter):
    """Drops arq's own lines per job: the runner logs each job's end with its context."""

    def filter(self, record: logging.LogRecord) -> bool:
        # arq's per-job messages, and only those, start with the job's elapsed time.
        return not (isinstance(record.msg, str) and record.msg.startswith("%6.2fs"))


# Once per process. The level skips arq's per-job info lines before they are even formatted; the
# filter drops its per-job warnings and errors, which the runner has logged already.
logging.getLogger("arq.worker").setLevel(logging.WARNING)
logging.getLogger("arq.worker").addFilter(_WithoutPerJobLines())


class WorkerConfigError(Exception):
    """The worker cannot start as configured; the message says what to change."""


def run_worker(settings: Settings, queue: str) -> None:
    """Run one queue's worker until SIGTERM or SIGINT, then drain its running jobs."""
    configure_logging(json=settings.json_logs, level=settings.log_level)
    asyncio.run(serve(settings, queue, registered_tasks(queue), _crons_of(queue)))


async def run_burst(settings: Settings, queue: str = DEFAULT_QUEUE) -> None:
    """Run every job of `queue` that is due, then return (tests and one-off drains)."""
    structlog.contextvars.clear_contextvars()
    worker = build_worker(
        settings, queue, registered_tasks(queue), burst=True, handle_signals=False
    )
    try:
        await worker.main()
    finally:
        await worker.close()


def build_worker(
    settings: Settings,
    queue: str,
    tasks: Sequence[Task[Any]],
    crons: Sequence[Cron] = (),
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    if queue not in settings.queues:
        raise WorkerConfigError(f"queue {queue!r} is not in QUEUES ({', '.join(settings.queues)})")
    if not tasks:
        raise WorkerConfigError(f"no task runs on queue {queue!r}; nothing for this worker to do")
    check_schedules(crons, settings)
    config = settings.queues[queue]
    job_metrics.declare_tasks(queue, (task.name for task in tasks))
    engine = create_engine(settings)
    history = Writer(engine, settings)
    cron_loop: asyncio.Task[None] | None = None

    async def startup(ctx: dict[str, Any]) -> None:
        nonlocal cron_loop
        ctx["settings"] = settings
        ctx["sessions"] = create_session_factory(engine)
        if crons and not burst and cron_loop is None:
            producer = Queue(ctx["redis"], settings)
            cron_loop = asyncio.create_task(
                scheduler.run(crons, settings, producer, ctx["sessions"])
            )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if cron_loop is not None:
            cron_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cron_loop
        await history.close()
        await engine.dispose()

    return Worker(
        functions=[as_arq_function(task, settings, history) for task in tasks],
        heartbeat=Heartbeat(stall_after_seconds=settings.worker_stall_seconds),
        queue_name=settings.queue_key(queue),
        redis_pool=_worker_redis(settings, queue),
        burst=burst,
        handle_signals=handle_signals,
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=config.max_jobs,
        poll_delay=config.poll_delay_seconds,
        job_timeout=settings.job_timeout_seconds,
        keep_result=settings.job_keep_result_seconds,
        job_completion_wait=config.drain_seconds,
        job_serializer=serialize,
        job_deserializer=deserialize,
        # Our runner logs every job with its context; arq's own result lines would repeat them.
        log_results=False,
    )


async def serve(
    settings: Settings, queue: str, tasks: Sequence[Task[Any]], crons: Sequence[Cron] = ()
) -> None:
    """Run the worker until SIGTERM or SIGINT, then drain; serve its probes meanwhile."""
    worker = build_worker(settings, queue, tasks, crons)
    _warn_about_timeouts(settings, queue, tasks)
    probes = await start_probe_server(
        settings.worker_http_host, settings.worker_http_port, worker.heartbeat, worker.pool
    )
    log.info(
        "worker_started",
        queue=queue,
        tasks=[t.name for t in tasks],
        crons=[c.name for c in crons],
        worker_id=worker.heartbeat.worker_id,
        redelivery_after_seconds=worker.redelivery_after_seconds,
    )
    try:
        with frozen_startup_heap():
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


def _crons_of(queue: str) -> list[Cron]:
    return [entry for entry in registered_crons() if entry.task.queue == queue]


def _worker_redis(settings: Settings, queue: str) -> ArqRedis:
    return ArqRedis(
        connection_pool=connection_pool(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_key(queue),
    )


def _warn_about_timeouts(settings: Settings, queue: str, tasks: Sequence[Task[Any]]) -> None:
    """A task that may outlive the drain is cut off on every deploy and runs again later."""
    drain = settings.queues[queue].drain_seconds
    for task in tasks:
        if timeout_for(task, settings) > drain:
            log.warning(
                "task_timeout_exceeds_drain",
                task=task.name,
                queue=queue,
                timeout_seconds=timeout_for(task, settings),
                drain_seconds=drain,
            )
