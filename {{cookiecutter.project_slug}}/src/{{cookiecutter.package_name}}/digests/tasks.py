"""The scheduled digest: `DIGEST_SCHEDULE` (UTC) decides when, the period is since the last time."""

from datetime import datetime
from typing import Any

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.crontab import Crontab
from {{ cookiecutter.package_name }}.digests import service
from {{ cookiecutter.package_name }}.digests.notifiers import build_notifier
from {{ cookiecutter.package_name }}.digests.period import Period
from {{ cookiecutter.package_name }}.jobs import JobContext, cron, task


def digest_schedule(settings: Settings) -> str:
    return settings.digest_schedule


@cron(schedule=digest_schedule)
@task(timeout_seconds=120, max_tries=3)
async def send_activity_digest(ctx: JobContext, *, scheduled_at: str) -> dict[str, Any]:
    """Send the digest of the period that ends at `scheduled_at`, unless it went out already."""
    crontab = Crontab.parse(ctx.settings.digest_schedule)
    period = Period.ending_at(crontab, datetime.fromisoformat(scheduled_at))
    digest = await service.send_once(ctx.sessions, build_notifier(ctx.settings), period)
    return {"period": str(period), "sent": digest is not None}
