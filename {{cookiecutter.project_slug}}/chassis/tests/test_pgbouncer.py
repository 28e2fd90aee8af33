"""Web, worker and the schema's DDL behind PgBouncer in transaction mode, with DATABASE_PGBOUNCER on.

A real pgbouncer (Debian 12 ships 1.18, which does not track prepared statements) stands in front
of the test's Postgres. PgBouncer lends a server connection to a client for one transaction, so
a prepared statement left on it meets the next client: asyncpg's names count from 1 in every
process, and a second process's first statement finds the first one's already there.
"""

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from harness import services
from harness.app import make_settings
from harness.live_service import create_schema, job_status, post_note, product_env, web, worker
from harness.private_servers import PrivatePgBouncer, private_pgbouncer
from harness.processes import TESTS_DIR, WAIT_SECONDS, eventually

# Starts real processes and servers: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

# What a fresh process does first with the engine the service builds: connect (the dialect's own
# first statements) and run one query.
FIRST_QUERY = """
import asyncio
from sqlalchemy import text
from chassis.core.db import create_engine
from chassis.settings import Settings

async def main() -> None:
    engine = create_engine(Settings())
    async with engine.connect() as connection:
        await connection.execute(text("SELECT count(*) FROM pg_class"))
    await engine.dispose()

asyncio.run(main())
"""


@dataclass
class Behind:
    bouncer: PrivatePgBouncer
    url: str


@pytest.fixture(scope="module")
async def behind(server_urls: services.ServerUrls) -> AsyncIterator[Behind]:
    """An empty database of its own, reached through pgbouncer, so its tables are made through it."""
    direct = services.scratch_database_url(server_urls.database)
    await services.create_database(direct)
    try:
        with private_pgbouncer(direct) as bouncer:
            yield Behind(bouncer, bouncer.url(str(make_url(direct).database)))
    finally:
        await services.drop_database(direct)


@pytest.fixture
def env(behind: Behind, redis_url: str) -> dict[str, str]:
    settings = make_settings(behind.url, redis_url)
    return product_env(settings, DATABASE_PGBOUNCER="true", RATE_LIMIT_ENABLED="false")


async def test_note_job_completes_through_pgbouncer(
    behind: Behind, env: dict[str, str], redis_url: str
) -> None:
    async with Redis.from_url(redis_url) as shared_redis:
        await shared_redis.flushdb()  # this run's own Redis database: no other test's jobs
    await create_schema(env)
    with web(env) as api, worker(env) as work:
        await api.wait_until_live()
        await work.wait_until_live()
        async with httpx.AsyncClient(base_url=api.base_url, timeout=15) as http:
            job_ids = []
            for _ in range(5):
                response = await post_note(http, work_seconds=0.05)
                assert response.status_code == 202, response.text
                job_ids.append(response.json()["job_id"])

            async def all_complete() -> bool:
                statuses = [await job_status(http, job_id) for job_id in job_ids]
                return statuses == ["complete"] * len(job_ids)

            await eventually(all_complete, "every job to complete through pgbouncer")
    assert "prepared statement" not in behind.bouncer.log_text()


def _first_query(url: str, *, pgbouncer: bool) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": url, "DATABASE_PGBOUNCER": str(pgbouncer).lower(), "PATH": ""}
    return subprocess.run(
        [sys.executable, "-c", FIRST_QUERY], env=env, cwd=TESTS_DIR, capture_output=True,
        text=True, timeout=WAIT_SECONDS,
    )  # fmt: skip


@pytest.fixture
def one_server_connection(database_url: str) -> Iterator[str]:
    """The run's database through a pgbouncer with one server connection, which all clients share."""
    with private_pgbouncer(database_url, pool_size=1) as bouncer:
        yield bouncer.url(str(make_url(database_url).database))


def test_without_the_setting_a_second_process_collides(one_server_connection: str) -> None:
    first = _first_query(one_server_connection, pgbouncer=False)
    assert first.returncode == 0, first.stderr
    second = _first_query(one_server_connection, pgbouncer=False)
    assert re.search(r'prepared statement "__asyncpg_stmt_\w+" already exists', second.stderr)


def test_with_the_setting_processes_share_a_server_connection(one_server_connection: str) -> None:
    outcomes = [_first_query(one_server_connection, pgbouncer=True) for _ in range(3)]
    assert [(done.returncode, done.stderr) for done in outcomes] == [(0, "")] * 3
