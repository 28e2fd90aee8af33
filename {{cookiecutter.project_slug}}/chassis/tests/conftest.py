"""Fixtures of the chassis's suite: real Postgres and Redis, and the sample service on them.

This directory is on `sys.path` while the suite runs (it has no `__init__.py`, so pytest puts it
there), which makes `sample` and `harness` importable here and in the processes the tests start.
"""

import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import Queue
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness import services
from harness import tasks as _test_tasks  # noqa: F401 - registers the tests' own tasks
from harness.app import make_settings, serve
from harness.redis_relay import RedisRelay
from sample import features  # noqa: F401 - registers the sample's tasks
from sample.main import create_app
from sample.settings import Settings

# Logical Redis databases a run may claim; db 0 holds the claims themselves.
REDIS_DBS = range(1, 16)


@pytest.fixture(scope="session")
def server_urls() -> Iterator[services.ServerUrls]:
    with services.servers() as urls:
        yield urls


@pytest.fixture(scope="session")
async def database_url(server_urls: services.ServerUrls) -> AsyncIterator[str]:
    """A fresh database for this run, with every table, dropped at the end."""
    url = services.scratch_database_url(server_urls.database)
    await services.create_database(url)
    try:
        await services.create_tables(url)
        yield url
    finally:
        await services.drop_database(url)


@pytest.fixture(scope="session")
async def redis_url(server_urls: services.ServerUrls) -> AsyncIterator[str]:
    """A logical Redis database claimed for this run, so parallel runs never share keys."""
    claims = Redis.from_url(server_urls.redis)
    claim_value = f"pid-{os.getpid()}"
    for db in REDIS_DBS:
        if await claims.set(f"pytest-claim:{db}", claim_value, nx=True, ex=3600):
            break
    else:
        raise RuntimeError("every Redis database 1-15 is claimed by another test run")
    url = urlsplit(server_urls.redis)._replace(path=f"/{db}").geturl()
    try:
        yield url
    finally:
        scratch = Redis.from_url(url)
        await scratch.flushdb()
        await scratch.aclose()
        await claims.delete(f"pytest-claim:{db}")
        await claims.aclose()


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on this run's database, for tests that seed or inspect rows directly."""
    engine = create_engine(settings)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def queue(settings: Settings, redis: Redis) -> Queue:
    return Queue(redis, settings)


@pytest.fixture
def app(settings: Settings, redis: Redis) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as http:
        yield http


@pytest.fixture
async def relay(settings: Settings) -> AsyncIterator[RedisRelay]:
    """A relay to this run's Redis database that a test can take down and bring back."""
    relay = RedisRelay(settings.redis_url)
    await relay.up()
    yield relay
    await relay.down()


@pytest.fixture
async def database_relay(settings: Settings) -> AsyncIterator[RedisRelay]:
    """A relay in front of this run's Postgres database; `through_relay` gives settings using it."""
    relay = RedisRelay(settings.database_url.replace("postgresql+asyncpg", "redis", 1))
    await relay.up()
    yield relay
    await relay.down()
