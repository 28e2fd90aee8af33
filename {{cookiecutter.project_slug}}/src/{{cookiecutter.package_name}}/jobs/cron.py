"""`@cron`: run a task on a schedule, once per fire time, whatever the number of workers.

    @cron(schedule=lambda settings: settings.digest_schedule)
    @task(queue="scheduled", timeout_seconds=120, max_tries=3)
    async def send_digest(ctx: JobContext, *, scheduled_at: str) -> ...

Schedules are parsed once, by `core/schedule.py` (croniter). The task receives the fire time (ISO 8601, UTC) it runs for, never "now": a run that starts late,
or again after a crash, still works on its own time. Every enqueue of one fire time uses the job
id `cron:<task>:<unix ms>`, so Redis refuses a second one from another worker. The worker of the
task's queue runs the schedule (`jobs/_worker/schedule.py`); the first start of a cron records
when its schedule began (`cron_schedules`), and nothing before that is ever caught up.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import Base, UTCDateTime
from {{ cookiecutter.package_name }}.core.schedule import Schedule, ScheduleError
from {{ cookiecutter.package_name }}.jobs.registry import Task

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
