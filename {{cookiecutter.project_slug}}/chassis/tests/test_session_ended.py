"""A Postgres session the server ended, used before its close arrives: an outage, never a 500.

A shutdown (or `pg_terminate_backend`) sends each idle session a FATAL error, then closes it. A
client that reads the error before the close is stuck consuming it: asyncpg refuses the next
statement, unsent, with an `InternalClientError` until it sees the close. A relay that passes on
the server's last words but holds back its close stages that window for as long as a test needs.
"""

import asyncio

import asyncpg
import httpx
import pytest
from chassis.core.db import connect_asyncpg, create_engine
from chassis.core.outages import Dependency, outage_of
from sqlalchemy import text

from harness.app import serve, through_relay
from harness.processes import eventually
from harness.redis_relay import RedisRelay
from sample.main import create_app
from sample.settings import Settings

# Time for the client to read what the relay passed on.
READ_SECONDS = 0.1


@pytest.fixture
def relayed(settings: Settings, database_relay: RedisRelay) -> Settings:
    database_relay.hold_closes()
    return through_relay(settings, database_relay, rate_limit_enabled=False)


async def end_sessions(settings: Settings, relay: RedisRelay) -> None:
    """Terminate the server sessions behind the relay; return once their FATAL reached the client."""
    before = relay.server_reads
    admin = await connect_asyncpg(settings)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE client_port = ANY($1::int[])",
            relay.upstream_ports,
        )
    finally:
        await admin.close()
    assert ended > 0

    async def told() -> bool:
        return relay.server_reads > before

    await eventually(told, "the server's FATAL through the relay")
    await asyncio.sleep(READ_SECONDS)


async def test_a_raw_connection_whose_session_ended_is_a_database_outage(
    settings: Settings, relayed: Settings, database_relay: RedisRelay
) -> None:
    connection = await connect_asyncpg(relayed)
    try:
        await connection.fetchval("SELECT 1")
        await end_sessions(settings, database_relay)
        with pytest.raises(asyncpg.InternalClientError) as raised:
            await connection.fetchval("SELECT 1")
    finally:
        connection.terminate()
    assert outage_of(raised.value) is Dependency.DATABASE


async def test_a_pooled_session_whose_server_session_ended_gets_a_new_connection(
    settings: Settings, relayed: Settings, database_relay: RedisRelay
) -> None:
    # What a task's or a route's session meets: the pool's pre-ping finds the stuck connection.
    engine = create_engine(relayed)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        await end_sessions(settings, database_relay)
        async with engine.connect() as connection:
            answer = await connection.scalar(text("SELECT 1"))
    finally:
        # The stuck connection's close waits for the server's: let it through first.
        await database_relay.down()
        await engine.dispose()
    assert answer == 1


async def test_intake_answers_503_then_accepts_on_a_new_connection(
    settings: Settings, relayed: Settings, database_relay: RedisRelay
) -> None:
    async def post(client: httpx.AsyncClient, key: str) -> tuple[int, str]:
        response = await client.post(
            "/v1/notes", json={"title": "Ended"}, headers={"Idempotency-Key": key}
        )
        return response.status_code, response.headers["content-type"]

    async with serve(create_app(relayed)) as client:
        assert (await post(client, "ended-warm"))[0] == 202
        await end_sessions(settings, database_relay)
        answers = [await post(client, "ended-1"), await post(client, "ended-2")]
        await database_relay.down()  # shutdown closes every connection: let the closes through
    assert answers == [(503, "application/problem+json"), (202, "application/json")]
