"""Async SQLAlchemy engine, session factory and the declarative base."""

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from chassis.settings import Settings
from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names let Alembic drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend; SQLite stores it naive, so UTC is restored."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store timestamps in UTC with tzinfo")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: Settings) -> AsyncEngine:
    """Every engine of the service, web and worker alike."""
    # create_async_engine is looked up on its module at each call, so that instrumentation which
    # wraps it after this module was imported still applies.
    url = settings.database_url
    if url.startswith("sqlite"):
        # One file shared by the web and worker processes: wait for locks instead of failing.
        engine = sqlalchemy_asyncio.create_async_engine(url, connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return sqlalchemy_asyncio.create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.database_connect_timeout_seconds,
        connect_args=_asyncpg_arguments(settings) | _dialect_arguments(settings),
    )


def _asyncpg_arguments(settings: Settings) -> dict[str, Any]:
    """What asyncpg's connect takes besides the URL: the engine and raw connections share it."""
    arguments: dict[str, Any] = {"timeout": settings.database_connect_timeout_seconds}
    if settings.database_pgbouncer:
        # asyncpg then runs each query as an unnamed statement whose Parse it sends again in
        # the same message group as Bind/Execute, so the statement never outlives the server
        # connection PgBouncer lends (tests/test_pgbouncer.py runs the history's group commits
        # that way).
        arguments["statement_cache_size"] = 0
    return arguments


def _dialect_arguments(settings: Settings) -> dict[str, Any]:
    """SQLAlchemy's asyncpg dialect prepares every statement by name, caches or not."""
    if not settings.database_pgbouncer:
        return {}
    # Both, as SQLAlchemy's docs advise; tests/test_pgbouncer.py shows the pair working through
    # PgBouncer 1.18. Unique names alone failed there when tried by hand: a cached statement is
    # looked for on another server connection ("does not exist"). Caches off alone keeps asyncpg's
    # names (`__asyncpg_stmt_1__`, ...), which count from 1 in every process, so web and worker
    # can meet on a server connection ("already exists"). Each statement is prepared and run
    # inside the dialect's transaction, which PgBouncer keeps on one server connection.
    return {"prepared_statement_cache_size": 0, "prepared_statement_name_func": _statement_name}


def _statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


async def connect_asyncpg(
    settings: Settings, *, command_timeout: float | None = None
) -> asyncpg.Connection:
    """A plain asyncpg connection to `DATABASE_URL`, for the few hot paths that skip SQLAlchemy.

    `command_timeout` bounds every statement: past it asyncpg raises `TimeoutError`, which
    `core.outages` counts as the database being down.
    """
    url = make_url(settings.database_url).set(drivername="postgresql")
    return await asyncpg.connect(
        url.render_as_string(hide_password=False),
        command_timeout=command_timeout,
        **_asyncpg_arguments(settings),
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
