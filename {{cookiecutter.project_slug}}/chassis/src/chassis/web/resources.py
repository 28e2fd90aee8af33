"""Process-wide resources, opened once in the lifespan and shared by every request."""

from dataclasses import dataclass

from chassis.core.db import create_engine, create_session_factory
from chassis.core.redis import create_redis
from chassis.jobs import Queue
from chassis.jobs.accept import Intake
from chassis.settings import Settings
from chassis.web.admission import Admission
from chassis.web.background import Spawner
from chassis.web.gcra import GcraLimiter
from chassis.web.idempotency_store import IdempotencyStore
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


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
    # The rate-limit decision and the idempotency claim in one round trip.
    admission: Admission
    # Accepted jobs: rows group-committed on a connection of its own, then enqueued.
    intake: Intake

    @classmethod
    def open(cls, settings: Settings) -> "Resources":
        # Nothing here connects yet: pools connect on first use, so the app starts (and answers
        # /healthz and a failing /readyz) even while Redis or the database is down.
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        redis = create_redis(settings)
        queue = Queue(redis, settings)
        limiter = GcraLimiter(redis, settings.redis_key_prefix)
        idempotency = IdempotencyStore(
            redis,
            settings.redis_key_prefix,
            in_flight_seconds=settings.idempotency_in_flight_seconds,
            retention_seconds=settings.idempotency_retention_seconds,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            redis=redis,
            queue=queue,
            spawner=Spawner(
                drain_seconds=settings.spawn_drain_seconds,
                max_concurrency=settings.spawn_max_concurrency,
            ),
            limiter=limiter,
            idempotency=idempotency,
            admission=Admission(redis, limiter, idempotency),
            intake=Intake(engine, settings, queue),
        )

    async def close(self) -> None:
        # Spawned tasks may still be using Redis or the database: they finish (or stop) first.
        await self.spawner.drain()
        await self.intake.close()
        await self.redis.aclose()
        await self.engine.dispose()
