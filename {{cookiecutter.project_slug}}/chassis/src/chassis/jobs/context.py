"""What a task receives: a typed context instead of arq's `dict[str, Any]`."""

from dataclasses import dataclass
from datetime import datetime

from chassis.settings import Settings
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True, slots=True)
class JobContext:
    job_id: str
    task: str
    attempt: int
    enqueued_at: datetime
    request_id: str | None
    settings: Settings
    redis: Redis
    sessions: async_sessionmaker[AsyncSession]
