"""Runs one task inside the worker: log context, job history, and our own timeout."""

import asyncio
import time
from typing import Any

import structlog
from arq.worker import Function, func

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs.context import JobContext
from {{ cookiecutter.package_name }}.jobs.history_writer import HistoryWriter
from {{ cookiecutter.package_name }}.jobs.models import JobStatus
from {{ cookiecutter.package_name }}.jobs.queue import REQUEST_ID_KWARG
from {{ cookiecutter.package_name }}.jobs.registry import Task

log = structlog.get_logger("jobs")

# arq's own timeout is only a backstop: ours fires first so the failure is recorded in history.
ARQ_TIMEOUT_MARGIN_SECONDS = 5


def timeout_for(task: Task[Any], settings: Settings) -> int:
    return task.timeout_seconds or settings.job_timeout_seconds


def as_arq_function(task: Task[Any], settings: Settings) -> Function:
    timeout = timeout_for(task, settings)

    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        request_id = kwargs.pop(REQUEST_ID_KWARG, None)
        job = JobContext(
            job_id=ctx["job_id"],
            task=task.name,
            attempt=ctx["job_try"],
            enqueued_at=ctx["enqueue_time"],
            request_id=request_id,
            settings=ctx["settings"],
            redis=ctx["redis"],
            sessions=ctx["sessions"],
        )
        with structlog.contextvars.bound_contextvars(
            job_id=job.job_id, task=task.name, attempt=job.attempt, request_id=request_id
        ):
            return await _run_recorded(task, job, kwargs, timeout, ctx["history"])

    return func(
        run,
        name=task.name,
        timeout=timeout + ARQ_TIMEOUT_MARGIN_SECONDS,
        max_tries=task.max_tries,
    )


async def _run_recorded(
    task: Task[Any],
    job: JobContext,
    kwargs: dict[str, Any],
    timeout_seconds: int,
    writer: HistoryWriter,
) -> Any:
    writer.started(
        job_id=job.job_id,
        task=task.name,
        attempt=job.attempt,
        kwargs=kwargs,
        request_id=job.request_id,
        enqueued_at=job.enqueued_at,
    )
    log.info("job_started")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            result = await task.function(job, **kwargs)
    except asyncio.CancelledError:
        # The worker is shutting down past its drain time: arq re-queues the job.
        await asyncio.shield(
            _finish(writer, job, JobStatus.QUEUED, error="interrupted by worker shutdown")
        )
        log.warning("job_interrupted")
        raise
    except TimeoutError as exc:
        error = f"timed out after {timeout_seconds} s"
        await _finish(writer, job, JobStatus.FAILED, error=error)
        log.error("job_failed", error=error)
        raise TimeoutError(error) from exc
    except Exception as exc:
        await _finish(writer, job, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        log.exception("job_failed")
        raise
    await _finish(writer, job, JobStatus.COMPLETE, result=result)
    log.info("job_complete", duration_ms=round((time.perf_counter() - started) * 1000, 2))
    return result


async def _finish(
    writer: HistoryWriter,
    job: JobContext,
    status: JobStatus,
    *,
    result: Any = None,
    error: str | None = None,
) -> None:
    await writer.finished(job_id=job.job_id, status=status, result=result, error=error)
