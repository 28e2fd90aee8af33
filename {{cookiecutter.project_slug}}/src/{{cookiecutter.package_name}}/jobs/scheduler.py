"""Turns `@cron` registrations into arq cron jobs, and catches up a time every worker missed.

How one scheduled time runs once, and where that needs help from the task:
- Every worker runs arq's scheduler. At a scheduled time each enqueues `cron:<task>:<ms>`; Redis
  keeps one, since the job id is the same.
- Clock skew: a worker whose clock is behind enqueues the same id later, possibly after the run has
  finished. arq's cron default, `keep_result=0`, deletes every trace of the job at the end, and the
  late enqueue runs it again. Keeping the result for `CRON_KEEP_RESULT_SECONDS` (far beyond any
  skew NTP allows) makes Redis refuse that enqueue.
- A worker killed mid-run: its job runs again once the in-progress key expires (timeout + 10 s),
  which needs `max_tries >= 2` (enforced by `@cron`).
- All workers down at the scheduled time: each worker, on start, enqueues the latest scheduled
  time under the same job id. If that time already ran, Redis refuses the enqueue while the result
  is kept, and the task's own idempotency (a unique key in Postgres) makes a later run a no-op.
"""

from datetime import UTC, datetime
from typing import Any

import structlog
from arq.cron import CronJob
from arq.cron import cron as arq_cron
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs.cron import Cron, scheduled_time
from {{ cookiecutter.package_name }}.jobs.queue import Queue
from {{ cookiecutter.package_name }}.jobs.registry import Message
from {{ cookiecutter.package_name }}.jobs.runner import as_arq_function

log = structlog.get_logger("scheduler")

CRON_KEEP_RESULT_SECONDS = 3600


def as_arq_cron(entry: Cron, settings: Settings) -> CronJob:
    function = as_arq_function(entry.task, settings)
    crontab = entry.crontab(settings)

    async def run(ctx: dict[str, Any]) -> Any:
        at = scheduled_time(ctx["job_id"]).isoformat()
        return await function.coroutine(ctx, scheduled_at=at)

    return arq_cron(
        run,
        name=entry.name,
        month=_arq_field(crontab.month),
        day=_arq_field(crontab.day),
        weekday=_arq_field(crontab.weekday),
        hour=_arq_field(crontab.hour),
        minute=_arq_field(crontab.minute),
        second=_arq_field(crontab.second),
        # arq's default (123456 µs) would leak into the job id; whole seconds match `Cron.job_id`.
        microsecond=0,
        unique=True,
        timeout=function.timeout_s,
        keep_result=CRON_KEEP_RESULT_SECONDS,
        max_tries=function.max_tries,
    )


def _arq_field(values: frozenset[int] | None) -> set[int] | None:
    return None if values is None else set(values)


async def catch_up(crons: list[Cron], settings: Settings, redis: Redis) -> None:
    """Enqueue each cron's latest scheduled time, under the id its scheduled run had."""
    queue = Queue(redis, settings.queue_name)
    now = datetime.now(UTC)
    for entry in crons:
        if not entry.catch_up:
            continue
        latest = entry.crontab(settings).latest_at_or_before(now)
        job_id = await queue.enqueue(Message(task=entry.name), job_id=entry.job_id(latest))
        log.info(
            "cron_catch_up",
            cron=entry.name,
            scheduled_at=latest.isoformat(),
            enqueued=job_id is not None,
        )
