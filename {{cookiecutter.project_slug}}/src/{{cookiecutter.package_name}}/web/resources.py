"""Process-wide resources, opened once in the lifespan and shared by every request."""

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.core.redis import create_redis
from {{ cookiecutter.package_name }}.jobs import Queue
from {{ cookiecutter.package_name }}.web.background import Spawner
from {{ cookiecutter.package_name }}.web.gcra import GcraLimiter
from {{ cookiecutter.package_name }}.web.idempotency_store import IdempotencyStore


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    queue: Queue
    spawner: Spawner
    limiter: GcraLimiter
    idempotency: IdempotencyStore

    @classmethod
    def open(cls, settings: Settings) -> "Resources":
        # Nothing here connects yet: pools connect on first use, so the app starts (and answers
        # /healthz and a failing /readyz) even while Redis or the database is down.
        engine = create_engine(settings)
        redis = create_redis(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            redis=redis,
            queue=Queue(redis, settings),
            spawner=Spawner(
                drain_seconds=settings.spawn_drain_seconds,
                max_concurrency=settings.spawn_max_concurrency,
            ),
            limiter=GcraLimiter(redis, settings.redis_key_prefix),
            idempotency=IdempotencyStore(
                redis,
                settings.redis_key_prefix,
                in_flight_seconds=settings.idempotency_in_flight_seconds,
                retention_seconds=settings.idempotency_retention_seconds,
            ),
        )

    async def close(self) -> None:
        # Spawned tasks may still be using Redis or the database: they finish (or stop) first.
        await self.spawner.drain()
        await self.redis.aclose()
        await self.engine.dispose()
