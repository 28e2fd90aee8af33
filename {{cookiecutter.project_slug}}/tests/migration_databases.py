"""Empty databases for the migration tests, on Postgres and on SQLite, and what they hold."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests import services
from tests.conftest import create_database, drop_database

# Production runs on Postgres; development on SQLite with no DATABASE_URL (`make dev`).
BACKENDS = ["postgresql", "sqlite"]


@asynccontextmanager
async def empty_database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """The URL of a database with nothing in it: a scratch one on the test server, or a file."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    server_urls: services.ServerUrls = request.getfixturevalue("server_urls")
    url = services.scratch_database_url(server_urls.database)
    await create_database(url)
    try:
        yield url
    finally:
        await drop_database(url)


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def applied_revisions(url: str) -> set[str]:
    """What alembic_version holds: one row per line of history, its revision in that database."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return {row.version_num for row in rows}
    finally:
        await engine.dispose()
