"""The sample app in the test process: a run's settings, a client with the lifespan running, and
settings that reach Postgres through a relay.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from chassis.settings import Environment
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from harness.redis_relay import RedisRelay
from sample.settings import Settings


def make_settings(database_url: str, redis_url: str) -> Settings:
    # No .env: the suite runs the same wherever it is started from.
    return Settings(
        _env_file=None,
        environment=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        log_json=False,
        job_timeout_seconds=10,
        # No drain: a test's worker stops at once.
        queues={
            name: queue.model_copy(update={"drain_seconds": 0})
            for name, queue in Settings(_env_file=None).queues.items()
        },
    )


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an HTTP client for it."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def through_relay(settings: Settings, database_relay: RedisRelay, **changes: object) -> Settings:
    url = make_url(settings.database_url).set(host="127.0.0.1", port=database_relay.port)
    return settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False), **changes}
    )
