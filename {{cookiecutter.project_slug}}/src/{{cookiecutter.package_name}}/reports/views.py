"""Per-day view counts of reports in Redis: analytics that may lose a count, never a reader's time."""

from datetime import UTC, date, datetime

from redis.asyncio import Redis

KEY_PREFIX = "{{ cookiecutter.package_name }}:report_views"
# A day's count is kept for a week after it, then Redis drops it.
TTL_SECONDS = 8 * 24 * 3600


def views_key(report_id: str, day: date) -> str:
    return f"{KEY_PREFIX}:{report_id}:{day.isoformat()}"


async def record_view(redis: Redis, report_id: str) -> None:
    key = views_key(report_id, datetime.now(UTC).date())
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, TTL_SECONDS)
        await pipe.execute()
