"""Real Postgres and Redis for the tests: containers when Docker answers, else the environment.

Each run gets its own Postgres database and its own Redis logical database, and removes both.
Its tables are the chassis's and the sample's, created from the models (`create_tables`): the
app's migrations are the app's to test.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import asyncpg
from chassis.core import Base, create_engine
from chassis.jobs import models as _job_models  # noqa: F401 - registers the job tables
from chassis.jobs import schedules as _schedules  # noqa: F401 - registers cron_schedules
from chassis.settings import Settings
from sqlalchemy.engine import make_url

from sample.notes import models as _note_models  # noqa: F401 - registers the notes table

MISSING_SERVICES = (
    "No Docker engine answered and TEST_DATABASE_URL / TEST_REDIS_URL are not set. "
    "Start Docker, or export for example "
    "TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test "
    "TEST_REDIS_URL=redis://127.0.0.1:6379/0"
)


@dataclass(frozen=True)
class ServerUrls:
    database: str
    redis: str


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        return True
    except Exception:  # no SDK, no socket, no engine: all mean "no Docker here"
        return False


@contextmanager
def servers() -> Iterator[ServerUrls]:
    database = os.environ.get("TEST_DATABASE_URL")
    redis = os.environ.get("TEST_REDIS_URL")
    if database and redis:
        yield ServerUrls(database=database, redis=redis)
        return
    if not _docker_answers():
        raise RuntimeError(MISSING_SERVICES)
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with ExitStack() as stack:
        if not database:
            pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver="asyncpg"))
            database = pg.get_connection_url()
        if not redis:
            rc = stack.enter_context(RedisContainer("redis:7-alpine"))
            redis = f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"
        yield ServerUrls(database=database, redis=redis)


def scratch_database_url(server_url: str) -> str:
    """A URL for a new, uniquely named database on the same server."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def admin_dsn(database_url: str) -> str:
    """A plain asyncpg DSN to the server's maintenance database, for CREATE/DROP DATABASE."""
    url = make_url(database_url).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


async def _on_server(url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(url: str) -> None:
    await _on_server(url, f'CREATE DATABASE "{make_url(url).database}"')


async def drop_database(url: str) -> None:
    await _on_server(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def create_tables(database_url: str, *, pgbouncer: bool = False) -> None:
    """Every table of the chassis and the sample, through the engine the service builds."""
    settings = Settings(_env_file=None, database_url=database_url, database_pgbouncer=pgbouncer)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()
