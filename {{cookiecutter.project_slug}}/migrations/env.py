"""Alembic environment: async engine from the service settings, batch mode on SQLite.

It runs two lines of history (alembic.ini `version_locations`): the chassis's and the app's.
"""

import asyncio
import importlib

from alembic import context
from alembic.util import CommandError
from chassis.core import Base, create_engine
from chassis.jobs import models as _job_models  # noqa: F401 - registers tables
from chassis.migrations import BRANCH, LOCATION
from chassis.settings import Settings
from sqlalchemy.engine import Connection

from {{ cookiecutter.package_name }}.service import SERVICE

# Every feature's models (its manifest): a table no module imported is invisible to autogenerate.
for feature in SERVICE.load_features():
    for module in feature.models:
        importlib.import_module(module)
target_metadata = Base.metadata

# Alembic skips a version location it cannot find. A chassis without its revisions would then
# make `upgrade heads` leave out job_history and the other chassis tables, and say nothing.
try:
    context.script.get_revisions(f"{BRANCH}@head")
except CommandError as exc:
    raise CommandError(f"no chassis revisions: list {LOCATION} in version_locations") from exc


def _settings() -> Settings:
    # Tests and tools may pass a URL through the Alembic config; the service uses DATABASE_URL.
    url = context.config.get_main_option("sqlalchemy.url")
    settings = SERVICE.load_settings()
    return settings.model_copy(update={"database_url": url}) if url else settings


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_settings())
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_settings().database_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
