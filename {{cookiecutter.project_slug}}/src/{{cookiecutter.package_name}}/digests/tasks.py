"""The scheduled digest: `DIGEST_SCHEDULE` (UTC) decides when; each covers all since the last.

Missed scheduled times (every worker down, Redis or Postgres down) are not sent one by one: the
next digest covers everything since the last one sent, so no activity is left out. The first
digest starts when its schedule began (the first worker start), never before.
"""

from datetime import datetime
from typing import Any

from chassis.jobs import JobContext, Schedule, cron, started_at_of, task
from chassis.settings import Settings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.digests import service
from {{ cookiecutter.package_name }}.digests.notifiers import build_notifier
from {{ cookiecutter.package_name }}.digests.settings import DigestSettings, get_digest_settings
from {{ cookiecutter.package_name }}.digests.summary import Digest


def digest_schedule(_settings: Settings) -> str:
    return get_digest_settings().schedule


@cron(schedule=digest_schedule)
@task(queue="scheduled", timeout_seconds=120, max_tries=3)
async def send_activity_digest(ctx: JobContext, *, scheduled_at: str) -> dict[str, Any]:
    """Send the digest of everything since the last one sent, up to `scheduled_at`."""
    digest = await send_due(
        get_digest_settings(), ctx.sessions, datetime.fromisoformat(scheduled_at)
    )
    return {"period": str(digest.period) if digest else None, "sent": digest is not None}


async def send_due(
    settings: DigestSettings, sessions: async_sessionmaker[AsyncSession], end: datetime
) -> Digest | None:
    """The activity digest up to `end`, unless everything before `end` was sent already."""
    async with sessions() as session:
        began = await started_at_of(session, send_activity_digest.name)
    # No worker has run the schedule yet (a `digest run` by hand): one scheduled period.
    first_start = began or Schedule.parse(settings.schedule).previous_before(end)
    return await service.send_since_last(
        sessions, build_notifier(settings), end, first_start=first_start
    )
