"""Fixtures of the app's suite: real Postgres and Redis, the app's migrations, and its app.

The platform's own suite, fault tests included, is chassis/tests (`make test-chassis`).
"""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import Queue
from chassis.settings import Environment
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }} import features  # noqa: F401 - registers every feature's tasks
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings
from tests import services

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Logical Redis databases a run may claim; db 0 holds the claims themselves.
REDIS_DBS = range(1, 16)


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


async def _on_server(url: str, statement: str) -> None:
    connection = await asyncpg.connect(services.admin_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(url: str) -> None:
    await _on_server(url, f'CREATE DATABASE "{make_url(url).database}"')


async def drop_database(url: str) -> None:
    await _on_server(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_urls() -> Iterator[services.ServerUrls]:
    with services.servers() as urls:
        yield urls


@pytest.fixture(scope="session")
async def database_url(server_urls: services.ServerUrls) -> AsyncIterator[str]:
    """A fresh database for this run, migrated to heads (chassis and app), dropped at the end."""
    url = services.scratch_database_url(server_urls.database)
    await create_database(url)
    try:
        # Alembic's env runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(command.upgrade, alembic_config(url), "heads")
        yield url
    finally:
        await drop_database(url)


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


def make_settings(database_url: str, redis_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        log_json=False,
        job_timeout_seconds=10,
        # No drain: a test's worker stops at once.
        queues={
            name: queue.model_copy(update={"drain_seconds": 0})
            for name, queue in Settings().queues.items()
        },
    )


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


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an HTTP client for it."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as http:
        yield http
