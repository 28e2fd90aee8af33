"""Async SQLAlchemy engine, session factory and the declarative base."""

from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from {{ cookiecutter.package_name }}.config import Settings

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
    url = settings.database_url
    if url.startswith("sqlite"):
        # One file shared by the web and worker processes: wait for locks instead of failing.
        engine = create_async_engine(url, connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.database_connect_timeout_seconds,
        connect_args=_asyncpg_arguments(settings),
    )


def _asyncpg_arguments(settings: Settings) -> dict[str, Any]:
    """What asyncpg's connect takes besides the URL: the engine and raw connections share it."""
    return {"timeout": settings.database_connect_timeout_seconds}


async def connect_asyncpg(settings: Settings) -> asyncpg.Connection:
    """A plain asyncpg connection to `DATABASE_URL`, for the few hot paths that skip SQLAlchemy."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    return await asyncpg.connect(
        url.render_as_string(hide_password=False), **_asyncpg_arguments(settings)
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
