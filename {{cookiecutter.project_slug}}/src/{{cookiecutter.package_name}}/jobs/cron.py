"""`@cron`: run a task on a schedule, once per scheduled time, whatever the number of workers.

    @cron(schedule=lambda settings: settings.digest_schedule)
    @task(timeout_seconds=120, max_tries=3)
    async def send_digest(ctx: JobContext, *, scheduled_at: str) -> ...

The task receives the scheduled time (ISO 8601, UTC) it runs for, never "now": a run that starts
late, or again after a crash, still works on its own period. Every run of one scheduled time has
the same job id, `cron:<task>:<unix ms>`, which arq's scheduler and the catch-up on worker start
both use, so Redis refuses the second enqueue. The task itself must still be idempotent for its
scheduled time (the digests keep a unique key in Postgres): see `jobs/scheduler.py` for the gaps.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.crontab import Crontab
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
    # On worker start, enqueue the latest scheduled time in case every worker was down then.
    catch_up: bool

    @property
    def name(self) -> str:
        return PREFIX + self.task.name

    def crontab(self, settings: Settings) -> Crontab:
        return Crontab.parse(self.schedule(settings))

    def job_id(self, scheduled_at: datetime) -> str:
        return f"{self.name}:{round(scheduled_at.timestamp() * 1000)}"


def cron(*, schedule: Callable[[Settings], str], catch_up: bool = True) -> Callable[[T], T]:
    """Schedule a `@task` whose keyword `scheduled_at` receives the time it runs for."""

    def register(declared: T) -> T:
        if declared.max_tries < 2:
            # A worker killed mid-run leaves the job to be picked up again; with one try arq
            # would drop it as "max retries exceeded" and the period would never be sent.
            raise ValueError(f"cron task {declared.name!r} needs max_tries >= 2")
        if len(declared.name) > MAX_TASK_NAME:
            raise ValueError(f"cron task name {declared.name!r} is over {MAX_TASK_NAME} characters")
        _CRONS[declared.name] = Cron(declared, schedule, catch_up)
        return declared

    return register


def registered_crons() -> list[Cron]:
    return list(_CRONS.values())


def scheduled_time(job_id: str) -> datetime:
    """The scheduled time encoded in a cron job id."""
    milliseconds = int(job_id.rsplit(":", 1)[1])
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
