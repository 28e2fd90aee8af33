"""Schedules, in one home: the cron engine (`Schedule`), `@cron` for tasks, and when each began.

Schedules are croniter's: croniter and cronsim both give next and previous fire times, names
(`mon-fri`, `jan`), ranges and steps, and OR the day of the month with the weekday as cron does;
only croniter also reads the `@daily`-style macros (cronsim 2.8 answers "Wrong number of fields")
and, with `second_at_beginning`, an optional leading seconds field. croniter is kept by
pallets-eco; its stubs come from typeshed (`types-croniter`).

Settings validate schedules such as `DIGEST_SCHEDULE` with it, `@cron` schedules its tasks with it, and digests find
their periods with it, so all three read an expression the same way.

`@cron`: run a task on a schedule, once per fire time, whatever the number of workers.

    @cron(schedule=lambda settings: settings.digest_schedule)
    @task(queue="scheduled", timeout_seconds=120, max_tries=3)
    async def send_digest(ctx: JobContext, *, scheduled_at: str) -> ...

Schedules are parsed once, by `Schedule` above. The task receives the fire time (ISO 8601, UTC) it runs for, never "now": a run that starts late,
or again after a crash, still works on its own time. Every enqueue of one fire time uses the job
id `cron:<task>:<unix ms>`, so Redis refuses a second one from another worker. The worker of the
task's queue runs the schedule (`jobs/_worker/scheduler.py`); the first start of a cron records
when its schedule began (`cron_schedules`), and nothing before that is ever caught up.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from chassis.core.db import Base, UTCDateTime
from chassis.jobs.registry import Task
from chassis.settings import Settings
from croniter import croniter
from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

# A date every valid schedule reaches within croniter's search window (50 years).
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule that does not parse, or never fires: start-up stops on it."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron expression in UTC: five fields, six with a leading seconds field, or a macro."""

    expression: str

    @classmethod
    def parse(cls, expression: str) -> "Schedule":
        text = " ".join(expression.split())
        if not (text.startswith("@") or len(text.split()) in (5, 6)):
            raise ScheduleError(
                f"{expression!r} needs 5 fields (6 with leading seconds) or a macro like @daily"
            )
        schedule = cls(text)
        try:
            schedule.next_after(_PROBE)  # also refuses a date that never comes (Feb 30)
        except (ValueError, TypeError, KeyError) as exc:
            raise ScheduleError(f"{expression!r} is not a cron schedule: {exc}") from None
        return schedule

    def _iterator(self, moment: datetime) -> "croniter[datetime]":
        return croniter(
            self.expression, moment.astimezone(UTC), ret_type=datetime, second_at_beginning=True
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`."""
        return self._iterator(moment).get_next(datetime).astimezone(UTC)

    def previous_before(self, moment: datetime) -> datetime:
        """The last fire time strictly before `moment`."""
        return self._iterator(moment).get_prev(datetime).astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last fire time at or before `moment`."""
        return self.previous_before(moment + timedelta(microseconds=1))


T = TypeVar("T", bound=Task[Any])

PREFIX = "cron:"
# The job id (`cron:<task>:<13-digit ms>`) must fit job_history.job_id (64 characters).
MAX_TASK_NAME = 64 - len(PREFIX) - 14

_CRONS: dict[str, "Cron"] = {}


@dataclass(frozen=True, slots=True)
class Cron:
    task: Task[Any]
    # Read at worker start, so the schedule is a setting rather than code.
    schedule: Callable[[Settings], str]

    @property
    def name(self) -> str:
        return PREFIX + self.task.name

    def schedule_for(self, settings: Settings) -> Schedule:
        try:
            return Schedule.parse(self.schedule(settings))
        except ScheduleError as exc:
            raise ScheduleError(f"cron {self.task.name}: {exc}") from None

    def job_id(self, scheduled_at: datetime) -> str:
        return f"{self.name}:{round(scheduled_at.timestamp() * 1000)}"


def cron(*, schedule: Callable[[Settings], str]) -> Callable[[T], T]:
    """Schedule a `@task` whose keyword `scheduled_at` receives the time it runs for."""

    def register(declared: T) -> T:
        if declared.max_tries < 2:
            # A worker killed mid-run leaves the job to be picked up again; with one try arq
            # would drop it as "max retries exceeded" and the fire time would never run.
            raise ValueError(f"cron task {declared.name!r} needs max_tries >= 2")
        if len(declared.name) > MAX_TASK_NAME:
            raise ValueError(f"cron task name {declared.name!r} is over {MAX_TASK_NAME} characters")
        _CRONS[declared.name] = Cron(declared, schedule)
        return declared

    return register


def registered_crons() -> list[Cron]:
    return list(_CRONS.values())


def check_schedules(crons: Sequence[Cron], settings: Settings) -> None:
    """Raise `ScheduleError` (one line) for the first cron whose schedule is bad."""
    for entry in crons:
        entry.schedule_for(settings)


class CronSchedule(Base):
    """When a cron's schedule began: its first worker start. Nothing before it is caught up."""

    __tablename__ = "cron_schedules"

    # The cron's task name.
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)


async def record_start(session: AsyncSession, task_name: str, now: datetime) -> datetime:
    """The schedule's start: `now` on its first start, the recorded time on every later one."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(CronSchedule).values(name=task_name, started_at=now).on_conflict_do_nothing()
    )
    started_at = await started_at_of(session, task_name)
    assert started_at is not None  # inserted above, or already there
    return started_at


async def started_at_of(session: AsyncSession, task_name: str) -> datetime | None:
    """When the schedule of the cron task `task_name` began; None if no worker ran it yet."""
    started: datetime | None = await session.scalar(
        select(CronSchedule.started_at).where(CronSchedule.name == task_name)
    )
    return started
