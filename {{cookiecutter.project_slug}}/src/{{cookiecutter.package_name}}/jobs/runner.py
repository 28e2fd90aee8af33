"""Runs one task inside the worker: log context, job history, timeout, retries and dead letters."""

import asyncio
import time
from typing import Any

import structlog
from arq.worker import Function, Retry, func

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs import history
from {{ cookiecutter.package_name }}.jobs import metrics as job_metrics
from {{ cookiecutter.package_name }}.jobs.context import JobContext
from {{ cookiecutter.package_name }}.jobs.history import ClaimOutcome
from {{ cookiecutter.package_name }}.jobs.models import JobStatus
from {{ cookiecutter.package_name }}.jobs.queue import REQUEST_ID_KWARG
from {{ cookiecutter.package_name }}.jobs.registry import Task
from {{ cookiecutter.package_name }}.jobs.retry import is_outage

log = structlog.get_logger("jobs")

# arq's own timeout is only a backstop: ours fires first so the failure is recorded in history.
# The margin covers that one write; it adds to the redelivery delay after a crash, so it is short.
ARQ_TIMEOUT_MARGIN_SECONDS = 1
# arq never gives up on a job by itself: the runner counts tries in the job history and records
# the job dead when they run out, so no job ends without a history record.
ARQ_MAX_TRIES = 1_000_000


class DeadLetter(Exception):
    """Raised to arq for a job recorded as dead, so that arq stores a failed result as well."""


def timeout_for(task: Task[Any], settings: Settings) -> int:
    return task.timeout_seconds or settings.job_timeout_seconds


def as_arq_function(task: Task[Any], settings: Settings) -> Function:
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        request_id = kwargs.pop(REQUEST_ID_KWARG, None)
        with structlog.contextvars.bound_contextvars(
            job_id=ctx["job_id"], task=task.name, request_id=request_id
        ):
            try:
                return await _run(task, ctx, kwargs, request_id)
            except (Retry, DeadLetter):
                raise
            except Exception as exc:
                if not is_outage(exc):
                    raise
                # The job history could not be written: try the delivery again later, and
                # never record a failure the job did not cause.
                delay = task.backoff.delay(ctx["job_try"])
                log.warning(
                    "job_bookkeeping_unavailable", error=_describe(exc), retry_in=round(delay, 3)
                )
                raise Retry(defer=delay) from exc

    return func(
        job_metrics.instrumented(task.name, run),
        name=task.name,
        timeout=timeout_for(task, settings) + ARQ_TIMEOUT_MARGIN_SECONDS,
        max_tries=ARQ_MAX_TRIES,
    )


async def _run(
    task: Task[Any], ctx: dict[str, Any], kwargs: dict[str, Any], request_id: str | None
) -> Any:
    async with ctx["sessions"].begin() as session:
        claim = await history.claim_attempt(
            session,
            job_id=ctx["job_id"],
            task=task.name,
            kwargs=kwargs,
            request_id=request_id,
            enqueued_at=ctx["enqueue_time"],
            max_tries=task.max_tries,
        )
    with structlog.contextvars.bound_contextvars(attempt=claim.attempt):
        if claim.outcome is ClaimOutcome.ALREADY_COMPLETE:
            log.info("job_already_complete")
            return claim.result
        if claim.outcome is ClaimOutcome.ALREADY_DEAD:
            raise DeadLetter(claim.error or "dead letter")
        if claim.outcome is ClaimOutcome.OUT_OF_TRIES:
            job_metrics.record_dead(task.name, "cut_off", claim.attempt)
            log.error("job_dead", reason="cut_off", error=claim.error)
            raise DeadLetter(claim.error or "dead letter")
        job = JobContext(
            job_id=ctx["job_id"],
            task=task.name,
            attempt=claim.attempt,
            enqueued_at=ctx["enqueue_time"],
            request_id=request_id,
            settings=ctx["settings"],
            redis=ctx["redis"],
            sessions=ctx["sessions"],
        )
        return await _attempt(task, job, kwargs)


async def _attempt(task: Task[Any], job: JobContext, kwargs: dict[str, Any]) -> Any:
    log.info("job_started")
    started = time.perf_counter()
    timeout = timeout_for(task, job.settings)
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            result = await task.function(job, **kwargs)
    except asyncio.CancelledError:
        # The worker is shutting down past its drain time: arq runs the job again later.
        await asyncio.shield(_record(job, JobStatus.QUEUED, error="interrupted by worker shutdown"))
        log.warning("job_interrupted")
        raise
    except Exception as exc:
        error = f"timed out after {timeout} s" if deadline.expired() else _describe(exc)
        failure = await _failed(task, job, exc, error)
        # The task's own traceback is on the job_dead line; arq's failure line needs only ours.
        raise failure from None
    await _record(job, JobStatus.COMPLETE, result=result)
    job_metrics.record_complete(task.name, job.attempt)
    log.info("job_complete", duration_ms=round((time.perf_counter() - started) * 1000, 2))
    return result


async def _failed(task: Task[Any], job: JobContext, exc: Exception, error: str) -> Exception:
    """Record a failed attempt; returns what to raise to arq: a Retry, or a DeadLetter."""
    if is_outage(exc) or isinstance(exc, task.retry_on):
        if job.attempt < task.max_tries:
            delay = task.backoff.delay(job.attempt)
            await _record(job, JobStatus.DEFERRED, error=error)
            log.warning("job_retrying", error=error, retry_in=round(delay, 3))
            return Retry(defer=delay)
        reason = "exhausted"
    else:
        reason = "permanent"
    await _record(job, JobStatus.DEAD, error=error)
    job_metrics.record_dead(task.name, reason, job.attempt)
    log.exception("job_dead", reason=reason, error=error)
    return DeadLetter(error)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _record(
    job: JobContext, status: JobStatus, *, result: Any = None, error: str | None = None
) -> None:
    async with job.sessions.begin() as session:
        await history.record_outcome(
            session, job_id=job.job_id, status=status, result=result, error=error
        )
