import asyncio

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from tests import services
from tests.conftest import alembic_config, create_database, drop_database


async def table_names(url: str) -> set[str]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def test_upgrade_then_downgrade_round_trips(server_urls: services.ServerUrls) -> None:
    url = services.scratch_database_url(server_urls.database)
    await create_database(url)
    try:
        config = alembic_config(url)
        await asyncio.to_thread(command.upgrade, config, "head")
        upgraded = await table_names(url)
        await asyncio.to_thread(command.downgrade, config, "base")
        downgraded = await table_names(url)
    finally:
        await drop_database(url)
    assert (upgraded, downgraded) == (
        {"alembic_version", "cron_schedules", "digest_runs", "job_history", "reports", "run_once"},
        {"alembic_version"},
    )
