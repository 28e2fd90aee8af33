"""The web tier's producer: a job's row, group-committed with other requests' rows, then its enqueue.

`jobs.submit` adds the row to the caller's session, for a job that must commit with other changes
(a dead letter's replay). A route that only accepts a job has nothing else to commit, and an ORM
session per request costs several milliseconds of Python for one row: here each row joins the
next group commit (`group_commit.py`), one statement on a connection of the intake's own, and its
request waits until that commit, so a 202 still means the row is durable. SQLite (development)
takes `jobs.submit` in a session of its own per row.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from chassis.jobs import history
from chassis.jobs.group_commit import DedicatedConnection, GroupCommit
from chassis.jobs.models import JobStatus
from chassis.jobs.queue import CompareAndSet, Queue, new_job_id
from chassis.jobs.registry import Message
from chassis.jobs.submit import Submitted, enqueue_recorded, submit
from chassis.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

# One statement whatever the group's size (arrays, so it is prepared once): the rows that are new
# are inserted, and for a job id that has a row already, that row's status comes back instead.
_INSERT = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::timestamptz[])
        AS u(job_id, task, status, kwargs, request_id, enqueued_at)
), added AS (
    INSERT INTO job_history
        (job_id, task, status, attempts, kwargs, request_id, enqueued_at)
    SELECT job_id, task, status, 0, kwargs::json, request_id, enqueued_at FROM input
    ON CONFLICT (job_id) DO NOTHING
    RETURNING job_id
)
SELECT input.job_id, added.job_id IS NOT NULL AS inserted, known.status
FROM input
LEFT JOIN added ON added.job_id = input.job_id
LEFT JOIN job_history AS known ON known.job_id = input.job_id
"""


@dataclass(frozen=True, slots=True)
class _Row:
    job_id: str
    task: str
    status: JobStatus
    kwargs: dict[str, Any]
    request_id: str | None
    enqueued_at: datetime


# Whether the row is new, and the status of the job.
_Recorded = tuple[bool, JobStatus]


class Intake:
    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        queue: Queue,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._postgres = engine.dialect.name == "postgresql"
        self._connection = DedicatedConnection(settings)
        self._rows: GroupCommit[_Row, _Recorded] = GroupCommit(
            self._insert_group, key=lambda row: row.job_id
        )

    async def submit(
        self,
        message: Message,
        *,
        request_id: str | None,
        job_id: str | None = None,
        defer_seconds: float = 0,
        also: Callable[[JobStatus], CompareAndSet | None] | None = None,
    ) -> Submitted:
        """Record the job's row durably, then enqueue it (`jobs.submit`'s guarantees).

        `also(status)` names a key to write in the enqueue's round trip (the idempotency record
        of the request); `Submitted.also_written` says whether it was.
        """
        if not self._postgres:
            # The portable path: the row in a session of its own, committed, then the enqueue.
            async with self._sessions() as session:
                return await submit(
                    session,
                    self._queue,
                    message,
                    request_id=request_id,
                    job_id=job_id,
                    defer_seconds=defer_seconds,
                    also=also,
                )
        job_id = job_id or new_job_id()
        status = JobStatus.DEFERRED if defer_seconds > 0 else JobStatus.QUEUED
        row = _Row(job_id, message.task, status, message.kwargs, request_id, history.utcnow())
        inserted, status = await self._rows.join(row)
        return await enqueue_recorded(
            self._queue,
            message,
            job_id=job_id,
            status=status,
            inserted=inserted,
            defer_seconds=defer_seconds,
            request_id=request_id,
            discard=self._discard,
            also=also,
        )

    async def close(self) -> None:
        await self._connection.close()

    async def _insert_group(self, rows: Sequence[_Row]) -> list[_Recorded]:
        columns = (
            [row.job_id for row in rows],
            [row.task for row in rows],
            [str(row.status) for row in rows],
            [json.dumps(row.kwargs) for row in rows],
            [row.request_id for row in rows],
            [row.enqueued_at for row in rows],
        )

        async def insert(connection: asyncpg.Connection) -> list[asyncpg.Record]:
            records: list[asyncpg.Record] = await connection.fetch(_INSERT, *columns)
            return records

        found = {
            job_id: (inserted, status)
            for job_id, inserted, status in await self._connection.run(insert)
        }
        return [_recorded(row, *found[row.job_id]) for row in rows]

    async def _discard(self, job_id: str) -> None:
        async with self._sessions() as session:
            await history.discard(session, job_id)
            await session.commit()


def _recorded(row: _Row, inserted: bool, status: str | None) -> _Recorded:
    # A row another request inserted after this statement's snapshot has no status here: it was
    # queued a moment ago, and enqueueing it again is a no-op.
    return inserted, row.status if inserted or status is None else JobStatus(status)
