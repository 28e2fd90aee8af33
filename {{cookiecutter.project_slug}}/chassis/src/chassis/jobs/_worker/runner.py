"""Runs one delivery of a task: claim the try, run it under its timeout, record how it ended.

    claim      the history counts the try and marks the job running; a job already complete or
               dead is not run again. Until the claim commits, the task does not start.
    run        the task, under its own timeout.
    record     the outcome is written before arq is told: complete, deferred (a retry) or dead.

While the history cannot be written (the database is down) the delivery goes back to arq as a
`Retry` with a short backoff: no try is used, no failure is recorded that the job did not cause,
and the worker carries on. An outcome that cannot be written is retried in place until just
before arq's own timeout; only then does the job go back to the queue, and its next delivery runs
the task again (keep effects idempotent with `run_once`, as the shipped tasks do).
"""

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

import structlog
from arq.worker import Function, Retry, func
from chassis.core.outages import is_outage
from chassis.jobs._worker import metrics as job_metrics
from chassis.jobs.context import JobContext
from chassis.jobs.history import ClaimOutcome, JobRow, Writer
from chassis.jobs.models import JobStatus
from chassis.jobs.queue import REQUEST_ID_KWARG
from chassis.jobs.registry import Task
from chassis.jobs.retry import Backoff, is_transient
from chassis.jobs.tracing import traced
from chassis.settings import Settings

log = structlog.get_logger("jobs")
T = TypeVar("T")

# arq's own timeout is only a backstop: ours fires first so the failure is recorded in history.
# The margin covers that write; it adds to the redelivery delay after a crash, so it is short.
ARQ_TIMEOUT_MARGIN_SECONDS = 1
# The outcome write gives up this long before arq's timeout would cut the job off.
_WRITE_MARGIN_SECONDS = 0.25
# arq never gives up on a job by itself: the runner counts tries in the job history and records
# the job dead when they run out, so no job ends without a history record.
ARQ_MAX_TRIES = 1_000_000
# A delivery that could not reach the history comes back soon: outages are usually short.
OUTAGE_BACKOFF = Backoff(base_seconds=0.5, cap_seconds=5.0)


class DeadLetter(Exception):
    """Raised to arq for a job recorded as dead, so that arq stores a failed result as well."""


def timeout_for(task: Task[Any], settings: Settings) -> int:
    return task.timeout_seconds or settings.job_timeout_seconds


def as_arq_function(task: Task[Any], settings: Settings, history: Writer) -> Function:
    timeout = timeout_for(task, settings)
    arq_timeout = timeout + ARQ_TIMEOUT_MARGIN_SECONDS

    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        request_id = kwargs.pop(REQUEST_ID_KWARG, None)
        job = JobRow(ctx["job_id"], task.name, kwargs, request_id, ctx["enqueue_time"])
        deadline = time.monotonic() + arq_timeout - _WRITE_MARGIN_SECONDS
        with structlog.contextvars.bound_contextvars(
            job_id=job.job_id, task=task.name, request_id=request_id
        ):
            delivery = _Delivery(task, job, history, timeout, deadline, ctx)
            return await delivery.run()

    return func(
        job_metrics.instrumented(task.name, traced(task.name, task.queue, run)),
        name=task.name,
        timeout=arq_timeout,
        max_tries=ARQ_MAX_TRIES,
    )


class _Delivery:
    def __init__(
        self,
        task: Task[Any],
        job: JobRow,
        history: Writer,
        timeout: int,
        deadline: float,
        ctx: dict[str, Any],
    ) -> None:
        self.task, self.job, self.history = task, job, history
        self.timeout, self.deadline, self.ctx = timeout, deadline, ctx

    async def run(self) -> Any:
        try:
            claim = await self._in_time(self.history.claim(self.job, max_tries=self.task.max_tries))
        except Exception as exc:
            self._unrecorded(exc)
        with structlog.contextvars.bound_contextvars(attempt=claim.attempt):
            if claim.outcome is ClaimOutcome.ALREADY_COMPLETE:
                log.info("job_already_complete")
                return claim.result
            if claim.outcome is ClaimOutcome.ALREADY_DEAD:
                raise DeadLetter(claim.error or "dead letter")
            if claim.outcome is ClaimOutcome.OUT_OF_TRIES:
                error = f"attempt {claim.attempt} of {self.task.max_tries} was cut off"
                await self._durably(JobStatus.DEAD, claim.attempt, error=error)
                job_metrics.record_dead(self.task.name, "cut_off", claim.attempt)
                log.error("job_dead", reason="cut_off", error=error)
                raise DeadLetter(error)
            return await self._attempt(claim.attempt)

    async def _attempt(self, attempt: int) -> Any:
        task, ctx = self.task, self.ctx
        context = JobContext(
            job_id=self.job.job_id,
            task=task.name,
            attempt=attempt,
            enqueued_at=self.job.enqueued_at,
            request_id=self.job.request_id,
            settings=ctx["settings"],
            redis=ctx["redis"],
            sessions=ctx["sessions"],
        )
        started = time.perf_counter()
        # The task's own timeout, cut short only if the claim took so long that arq's would fire.
        budget = min(self.timeout, self.deadline - time.monotonic() - _WRITE_MARGIN_SECONDS)
        limit = asyncio.timeout(budget)
        try:
            async with limit:
                result = await task.function(context, **self.job.kwargs)
        except asyncio.CancelledError:
            # The worker is shutting down past its drain time: arq runs the job again later.
            await asyncio.shield(self._best_effort(JobStatus.QUEUED, attempt, "interrupted"))
            log.warning("job_interrupted")
            raise
        except Exception as exc:
            error = f"timed out after {self.timeout} s" if limit.expired() else _describe(exc)
            raise await self._failed(attempt, exc, error) from None
        await self._durably(JobStatus.COMPLETE, attempt, result=result)
        job_metrics.record_complete(task.name, attempt)
        log.info("job_complete", duration_ms=round((time.perf_counter() - started) * 1000, 2))
        return result

    async def _failed(self, attempt: int, exc: Exception, error: str) -> Exception:
        """Record a failed attempt; returns what to raise to arq: a Retry, or a DeadLetter."""
        task = self.task
        if is_transient(exc, task.retry_on):
            if attempt < task.max_tries:
                delay = task.backoff.delay(attempt)
                # The try is counted already; if its outcome cannot be written, the next claim
                # moves on from it just the same.
                await self._best_effort(JobStatus.DEFERRED, attempt, error)
                log.warning("job_retrying", error=error, retry_in=round(delay, 3))
                return Retry(defer=delay)
            reason = "exhausted"
        else:
            reason = "permanent"
        await self._durably(JobStatus.DEAD, attempt, error=error)
        job_metrics.record_dead(task.name, reason, attempt)
        log.error("job_dead", reason=reason, error=error, exc_info=exc)
        return DeadLetter(error)

    async def _durably(
        self, status: JobStatus, attempt: int, *, result: Any = None, error: str | None = None
    ) -> None:
        """Write the outcome, retrying through an outage until arq's timeout draws near."""
        for failures in range(1, 1_000_000):
            write = self.history.record(
                self.job, status, attempt=attempt, result=result, error=error
            )
            try:
                await self._in_time(write)
                return
            except Exception as exc:
                pause = OUTAGE_BACKOFF.delay(failures)
                if not _retryable(exc) or time.monotonic() + pause > self.deadline:
                    self._unrecorded(exc)
                if failures == 1:
                    log.warning("job_outcome_waiting_for_database", error=_describe(exc))
                await asyncio.sleep(pause)

    async def _in_time(self, write: Awaitable[T]) -> T:
        """Wait for a history write, but never past arq's own timeout, which would fail the job."""
        try:
            async with asyncio.timeout(self.deadline - time.monotonic()):
                return await write
        except TimeoutError as exc:
            raise _HistoryStalled("the job history did not answer in time") from exc

    async def _best_effort(self, status: JobStatus, attempt: int, error: str) -> None:
        try:
            await self._in_time(self.history.record(self.job, status, attempt=attempt, error=error))
        except Exception as exc:
            if not _retryable(exc):
                raise
            log.warning("job_outcome_not_recorded", status=status, error=_describe(exc))

    def _unrecorded(self, exc: Exception) -> NoReturn:
        """The history cannot be written: hand the delivery back to arq, using no try."""
        if not _retryable(exc):
            # A bug, not an outage: arq records the job as failed (its own line is filtered).
            log.error("job_bookkeeping_failed", exc_info=exc)
            raise exc
        delay = OUTAGE_BACKOFF.delay(self.ctx["job_try"])
        log.warning("job_bookkeeping_unavailable", error=_describe(exc), retry_in=round(delay, 3))
        raise Retry(defer=delay) from exc


class _HistoryStalled(Exception):
    """A history write outlived the job's time with arq: the database is down in all but name."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _HistoryStalled) or is_outage(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
