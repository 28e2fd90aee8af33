"""`core.outages` against the errors real servers raise when they stop, not hand-built ones.

Each Postgres case runs the service's own engine (SQLAlchemy over asyncpg) or the worker's plain
asyncpg connection against a private server that the test stops; each Redis case, redis-py against
a private redis-server. The shared servers are never stopped.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from chassis.core.db import connect_asyncpg, create_engine
from chassis.core.outages import Dependency, outage_of
from chassis.core.redis import create_redis
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from harness.private_servers import (
    PrivatePostgres,
    PrivateRedis,
    private_postgres,
    private_redis,
    private_sentinels,
)
from sample.settings import Settings

DATABASE, REDIS = Dependency.DATABASE, Dependency.REDIS
# Starts and stops servers of its own: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow


async def raised_by(action: Callable[[], Awaitable[Any]]) -> BaseException:
    try:
        await action()
    except Exception as exc:
        return exc
    raise AssertionError("expected the call to fail")


def causes(error: BaseException) -> list[str]:
    """The type names down the chain: SQLAlchemy's wrapper, its adapter's, then the driver's."""
    names: list[str] = []
    current: BaseException | None = error
    while current is not None and len(names) < 10:
        names.append(type(current).__name__)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return names


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture
async def engine(postgres: PrivatePostgres, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.model_copy(update={"database_url": postgres.url}))
    yield engine
    await engine.dispose()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        yield server


async def select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def test_refused_database_connection_is_a_database_outage(
    postgres: PrivatePostgres, engine: AsyncEngine
) -> None:
    postgres.stop("fast")
    assert outage_of(await raised_by(lambda: select_one(engine))) is DATABASE


async def test_database_shutting_down_is_a_database_outage(
    postgres: PrivatePostgres, engine: AsyncEngine
) -> None:
    # A smart shutdown waits for open sessions and refuses new ones meanwhile (SQLSTATE 57P03).
    held = await asyncpg.connect(postgres.url.replace("+asyncpg", ""))
    try:
        postgres._run("pg_ctl", "stop", "-D", str(postgres.data), "-m", "smart", "-W")
        error = await raised_by(lambda: select_one(engine))
    finally:
        await held.close()
    assert ("CannotConnectNowError" in causes(error), outage_of(error)) == (True, DATABASE)


async def test_connection_the_server_terminated_is_a_database_outage(
    postgres: PrivatePostgres, engine: AsyncEngine
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        postgres.stop("fast")
        error = await raised_by(lambda: connection.execute(text("SELECT 1")))
    assert outage_of(error) is DATABASE


async def test_plain_asyncpg_connection_after_a_restart_is_a_database_outage(
    postgres: PrivatePostgres, settings: Settings
) -> None:
    # The worker's ledger keeps one plain asyncpg connection across commits.
    connection = await connect_asyncpg(settings.model_copy(update={"database_url": postgres.url}))
    postgres.stop("fast")
    postgres.start()
    errors = [await raised_by(lambda: connection.fetch("SELECT 1")) for _ in range(2)]
    connection.terminate()
    assert [outage_of(error) for error in errors] == [DATABASE, DATABASE]


async def test_exhausted_pool_is_a_database_outage(settings: Settings) -> None:
    engine = create_async_engine(
        settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.1
    )
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            error = await raised_by(lambda: select_one(engine))
    finally:
        await engine.dispose()
    assert outage_of(error) is DATABASE


async def test_refused_redis_connection_is_a_redis_outage(redis_server: PrivateRedis) -> None:
    client = Redis.from_url(redis_server.url)
    redis_server.stop()
    error = await raised_by(client.ping)
    await client.aclose()
    assert outage_of(error) is REDIS


async def test_watch_broken_by_a_lost_connection_is_a_redis_outage(
    redis_server: PrivateRedis,
) -> None:
    # What arq's start_jobs meets when Redis stops between WATCH and the next command.
    client = Redis.from_url(redis_server.url)
    async with client.pipeline(transaction=True) as pipe:
        await pipe.watch("arq:in-progress:job")
        redis_server.stop()
        error = await raised_by(lambda: pipe.exists("arq:in-progress:job"))
    await client.aclose()
    assert (type(error).__name__, outage_of(error)) == ("WatchError", REDIS)


async def test_redis_that_does_not_answer_in_time_is_a_redis_outage(
    redis_server: PrivateRedis,
) -> None:
    blocker = Redis.from_url(redis_server.url)
    client = Redis.from_url(redis_server.url, socket_timeout=0.2)
    await client.ping()
    # The server holds every client's commands for a second: it is up, but does not answer.
    await blocker.execute_command("CLIENT", "PAUSE", "1000", "ALL")
    error = await raised_by(client.ping)
    await blocker.aclose()
    await client.aclose()
    assert outage_of(error) is REDIS


@pytest.fixture
def replica(redis_server: PrivateRedis, tmp_path: Path) -> Iterator[PrivateRedis]:
    """A replica of `redis_server`: what a client still holding a demoted primary writes to."""
    (tmp_path / "replica").mkdir()
    server = PrivateRedis(tmp_path / "replica", replica_of=redis_server.port)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


async def test_a_script_writing_to_a_replica_is_a_redis_outage(replica: PrivateRedis) -> None:
    # The enqueue, rate-limit and idempotency scripts all write.
    client = Redis.from_url(replica.url)
    error = await raised_by(lambda: client.eval("return redis.call('SET', KEYS[1], 1)", 1, "k"))
    await client.aclose()
    assert (type(error).__name__, outage_of(error)) == ("ReadOnlyError", REDIS)


async def test_a_transaction_on_a_replica_is_a_redis_outage(replica: PrivateRedis) -> None:
    # arq moves a job with WATCH/MULTI/EXEC; on a replica the EXEC is aborted.
    client = Redis.from_url(replica.url)
    async with client.pipeline(transaction=True) as pipe:
        pipe.set("k", 1)
        error = await raised_by(pipe.execute)
    await client.aclose()
    assert outage_of(error) is REDIS


async def test_a_master_no_sentinel_knows_is_a_redis_outage(
    settings: Settings, tmp_path: Path
) -> None:
    # What every client meets between a primary's failure and the sentinels' switch.
    with private_sentinels(tmp_path) as sentinels:
        unknown = settings.model_copy(
            update={"redis_sentinels": sentinels.sentinels, "redis_sentinel_master": "unknown"}
        )
        client = create_redis(unknown)
        error = await raised_by(client.ping)
        await client.aclose()
    assert (type(error).__name__, outage_of(error)) == ("MasterNotFoundError", REDIS)


async def test_a_bad_statement_is_not_an_outage(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.connect() as connection:
        error = await raised_by(lambda: connection.execute(text("SELECT no_such_column")))
    await engine.dispose()
    assert outage_of(error) is None


async def test_a_redis_type_error_is_not_an_outage(redis: Redis) -> None:
    await redis.set("a-string", "x")

    # INCR on a value that is not a number: Redis answers, with an error about the data.
    assert outage_of(await raised_by(lambda: redis.incr("a-string"))) is None


def test_a_network_error_outside_the_database_clients_is_not_a_dependency_outage() -> None:
    # A task's own HTTP call failing is transient for the task, but no dependency of ours is down.
    with pytest.raises(ConnectionRefusedError) as raised:
        raise ConnectionRefusedError("partner API refused")
    assert outage_of(raised.value) is None
