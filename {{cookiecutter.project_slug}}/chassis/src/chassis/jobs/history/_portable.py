"""The history's SQLAlchemy Core statements: a job's row in a caller's session, and SQLite's groups.

They run on Postgres and SQLite alike (both have ON CONFLICT and RETURNING). On Postgres the hot
paths, the accept path's rows and the worker's claims and outcomes, take `_postgres.py` instead.
"""

from collections.abc import Sequence
from typing import Any

from chassis.jobs.history._postgres import ClaimedRow
from chassis.jobs.models import JobRecord, JobStatus
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# The Table itself: `JobRecord.__table__` is typed as any FROM clause, which inserts do not take.
TABLE = JobRecord.metadata.tables[JobRecord.__tablename__]

# A session (`jobs.submit`) or a connection (a group on SQLite).
Executor = AsyncSession | AsyncConnection


async def add_queued(
    executor: Executor, rows: Sequence[dict[str, Any]], *, dialect: str
) -> dict[str, bool]:
    """Insert the rows that are new; whether each job id's row was added."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    statement = (
        insert(TABLE)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=[TABLE.c.job_id])
        .returning(TABLE.c.job_id)
    )
    added = set((await executor.execute(statement)).scalars())
    return {row["job_id"]: row["job_id"] in added for row in rows}


async def statuses(executor: Executor, job_ids: Sequence[str]) -> dict[str, str]:
    if not job_ids:
        return {}
    query = select(TABLE.c.job_id, TABLE.c.status).where(TABLE.c.job_id.in_(job_ids))
    return {job_id: status for job_id, status in await executor.execute(query)}


async def claim(
    connection: AsyncConnection, claims: Sequence[dict[str, Any]]
) -> dict[str, ClaimedRow]:
    """The claim upsert of `_postgres.py`, for SQLite in development."""
    if not claims:
        return {}
    table = TABLE
    insert = sqlite.insert(table).values(list(claims))
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.job_id],
        set_={
            "attempts": table.c.attempts + 1,
            "status": JobStatus.IN_PROGRESS,
            "started_at": insert.excluded.started_at,
        },
        # A finished job is not run again: its row is left as it is, and not returned.
        where=table.c.status.not_in([JobStatus.COMPLETE, JobStatus.DEAD]),
    ).returning(table.c.job_id, table.c.attempts)
    claimed: dict[str, ClaimedRow] = {
        job_id: (attempts, JobStatus.IN_PROGRESS, None, None)
        for job_id, attempts in await connection.execute(statement)
    }
    finished = [row["job_id"] for row in claims if row["job_id"] not in claimed]
    if finished:
        query = select(
            table.c.job_id, table.c.attempts, table.c.status, table.c.result, table.c.error
        ).where(table.c.job_id.in_(finished))
        for job_id, attempts, status, result, error in await connection.execute(query):
            claimed[job_id] = (attempts, status, result, error)
    return claimed


async def record(connection: AsyncConnection, outcomes: Sequence[dict[str, Any]]) -> None:
    """The outcome upsert of `_postgres.py`, for SQLite in development."""
    if not outcomes:
        return
    insert = sqlite.insert(TABLE).values(list(outcomes))
    columns = ("status", "attempts", "result", "error", "finished_at")
    await connection.execute(
        insert.on_conflict_do_update(
            index_elements=[TABLE.c.job_id],
            set_={name: insert.excluded[name] for name in columns},
        )
    )


async def discard(executor: Executor, job_id: str) -> None:
    await executor.execute(delete(TABLE).where(TABLE.c.job_id == job_id))


async def set_replayed_as(executor: Executor, job_id: str, new_id: str | None) -> None:
    await executor.execute(update(TABLE).where(TABLE.c.job_id == job_id).values(replayed_as=new_id))


async def delete_dead(executor: Executor) -> int:
    deleted = await executor.execute(delete(TABLE).where(TABLE.c.status == JobStatus.DEAD))
    # DML statements return a CursorResult, which the generic Result type does not declare.
    return int(deleted.rowcount)  # type: ignore[attr-defined]
