"""The cron loop: every worker of a queue runs the schedules of that queue's crons.

For each cron, `run`:
1. records when the schedule began, on its first start ever (`cron_schedules`);
2. catches up: the latest fire time at or before now is enqueued if it came after the schedule
   began. A first start enqueues nothing; a restart after downtime enqueues one job, for the
   latest fire time missed;
3. then sleeps until the next fire time (to the second, never polling) and enqueues it.

Fire times that pass while the loop cannot enqueue (Redis or Postgres down, a stalled event loop)
collapse into the latest of them, as on a restart. A cron task therefore works on "everything
since its last run", not on one fixed slot: the digests do (`digests/service.py`).

Every worker runs this loop for the same crons. Each fire time has one job id,
`cron:<task>:<unix ms>`, and Redis refuses a job id it still knows (queued, running, or finished
within `JOB_KEEP_RESULT_SECONDS`), so each fire time is enqueued once. A worker whose clock lags
behind that window enqueues again; the task's own idempotency (a unique key in Postgres) makes
that run a no-op.

A dependency that is down never ends the loop: the first failure is logged, the step is retried
with a backoff, and recovery is logged. Only cancellation (worker shutdown) ends it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

import structlog
from chassis.core.outages import is_outage
from chassis.jobs.queue import Queue
from chassis.jobs.registry import Message
from chassis.jobs.schedules import Cron, Schedule, record_start
from chassis.settings import Settings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = structlog.get_logger("cron")

R = TypeVar("R")

# Waits between tries of a failed step: doubling from the first, capped.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


class Clock(Protocol):
    """Wall-clock time, injectable so tests move it instead of waiting."""

    def now(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None: ...


class SystemClock:
    # asyncio sleeps on the monotonic clock; waking at least this often notices a wall-clock
    # step (NTP, a resumed VM) within that time.
    max_sleep_seconds = 300.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        # Waiting for a time on the wall clock, not for another task: no event to wait on.
        while (delay := (moment - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(delay, self.max_sleep_seconds))


async def run(
    crons: Sequence[Cron],
    settings: Settings,
    queue: Queue,
    sessions: async_sessionmaker[AsyncSession],
    *,
    clock: Clock | None = None,
    max_retry_seconds: float = MAX_RETRY_SECONDS,
) -> None:
    """Enqueue every fire time of `crons` until cancelled; raises only for a bad schedule.

    Check the schedules at start-up (`jobs.schedules.check_schedules`) so that never happens here.
    """
    schedules = [(entry, entry.schedule_for(settings)) for entry in crons]
    loop = _Loop(queue, sessions, clock or SystemClock(), max_retry_seconds)
    async with asyncio.TaskGroup() as group:
        for entry, schedule in schedules:
            group.create_task(loop.run_one(entry, schedule), name=entry.name)


class _Loop:
    def __init__(
        self,
        queue: Queue,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        max_retry_seconds: float,
    ) -> None:
        self.queue = queue
        self.sessions = sessions
        self.clock = clock
        self.max_retry_seconds = max_retry_seconds

    async def run_one(self, entry: Cron, schedule: Schedule) -> None:
        started_at = await self._until_done(entry, "record_start", lambda: self._start(entry))
        now = self.clock.now()
        latest = schedule.latest_at_or_before(now)
        if latest > started_at:
            log.info("cron_catch_up", cron=entry.name, scheduled_at=latest.isoformat())
            fire = latest
        else:
            fire = schedule.next_after(now)
        while True:
            await self.clock.sleep_until(fire)
            await self._until_done(entry, "enqueue", partial(self._enqueue, entry, fire))
            fire = _following(schedule, fire, self.clock.now())

    async def _start(self, entry: Cron) -> datetime:
        async with self.sessions.begin() as session:
            return await record_start(session, entry.task.name, self.clock.now())

    async def _enqueue(self, entry: Cron, at: datetime) -> None:
        message = Message(
            task=entry.task.name, kwargs={"scheduled_at": at.isoformat()}, queue=entry.task.queue
        )
        job_id = await self.queue.enqueue(message, job_id=entry.job_id(at))
        # Not enqueued: another worker enqueued this fire time first.
        log.info("cron_fired", cron=entry.name, scheduled_at=at.isoformat(), enqueued=bool(job_id))

    async def _until_done(self, entry: Cron, step: str, action: Callable[[], Awaitable[R]]) -> R:
        """Run `action` until it succeeds; log the first failure and the recovery only."""
        failures = 0
        while True:
            try:
                result = await action()
            except Exception as exc:
                if failures == 0 and is_outage(exc):
                    log.warning("cron_dependency_down", cron=entry.name, step=step, error=repr(exc))
                elif failures == 0:
                    log.exception("cron_step_failed", cron=entry.name, step=step)
                failures += 1
                delay = FIRST_RETRY_SECONDS * 2 ** min(failures - 1, 16)
                await asyncio.sleep(min(delay, self.max_retry_seconds))
                continue
            if failures:
                log.info("cron_recovered", cron=entry.name, step=step, failed_tries=failures)
            return result


def _following(schedule: Schedule, fire: datetime, now: datetime) -> datetime:
    """The fire time after `fire`; if several have passed meanwhile, the latest of them."""
    following = schedule.next_after(fire)
    return following if following > now else schedule.latest_at_or_before(now)
