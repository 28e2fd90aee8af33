"""The worker's writes to the job history, group-committed: jobs running together share a commit.

Every try is claimed before its task starts, and every outcome is written before arq hears of it.
Doing each in a transaction of its own cost two ORM transactions per try and capped the worker
near 100 jobs/s. Here a claim or an outcome joins the next group: one transaction holding one
multi-row upsert for the claims and one for the outcomes of every job that asked meanwhile. Each
caller waits for its group's commit, so no task starts before its try is durably counted.

Groups form by themselves (`jobs/group_commit.py`, shared with the web tier's job rows): a write
that arrives while a commit is in flight waits for the next one, so an idle worker commits each
write at once and a busy one commits many per round trip. If the commit fails, every caller in the
group gets the error (an outage, most likely: see `core.outages`) and decides what to do with its
job.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
from chassis.jobs._worker import _postgres
from chassis.jobs._worker._postgres import ClaimedRow as _ClaimedRow
from chassis.jobs.group_commit import DedicatedConnection, GroupCommit
from chassis.jobs.models import FINAL_STATUSES, JobRecord, JobStatus
from chassis.settings import Settings
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# The Table itself: `JobRecord.__table__` is typed as any FROM clause, which inserts do not take.
# The portable statements below serve SQLite in development; Postgres has `_postgres.py`.
_TABLE = JobRecord.metadata.tables[JobRecord.__tablename__]


class ClaimOutcome(StrEnum):
    RUN = "run"
    # Delivered again after it finished (Redis lost arq's bookkeeping): nothing to run.
    ALREADY_COMPLETE = "already_complete"
    ALREADY_DEAD = "already_dead"
    # Its last try was cut off (worker killed, or stopped past its drain time).
    OUT_OF_TRIES = "out_of_tries"


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobRow:
    """What the worker knows of a job from its delivery; it recreates a purged row."""

    job_id: str
    task: str
    kwargs: dict[str, Any]
    request_id: str | None
    enqueued_at: datetime


@dataclass(frozen=True, slots=True)
class _Write:
    """A claim (`claim=True`) or an outcome, as the row it upserts."""

    claim: bool
    row: dict[str, Any]


class Ledger:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        # Postgres: the committer's own connection (see `group_commit.py`).
        self._connection = DedicatedConnection(settings)
        # One write per job in a group: one commit cannot touch a row twice.
        self._writes: GroupCommit[_Write, _ClaimedRow | None] = GroupCommit(
            self._commit, key=lambda write: write.row["job_id"]
        )

    async def claim(self, job: JobRow, *, max_tries: int) -> Claim:
        """Count the next try and mark the job running, unless it is finished or out of tries.

        A try is counted here, just before the task runs, so a delivery that never got this far
        (Redis or the database down) does not use one up. Creates the row for jobs enqueued
        without one (cron, other services).
        """
        now = datetime.now(UTC)
        row = {
            "job_id": job.job_id,
            "task": job.task,
            "status": JobStatus.IN_PROGRESS,
            "attempts": 1,
            "kwargs": job.kwargs,
            "request_id": job.request_id,
            "enqueued_at": job.enqueued_at,
            "started_at": now,
        }
        claimed = await self._writes.join(_Write(True, row))
        if claimed is None:
            raise LookupError(f"no history row for {job.job_id}")
        attempts, status, result, error = claimed
        if status == JobStatus.COMPLETE:
            return Claim(ClaimOutcome.ALREADY_COMPLETE, attempts, result=result)
        if status == JobStatus.DEAD:
            return Claim(ClaimOutcome.ALREADY_DEAD, attempts, error=error)
        if attempts > max_tries:
            return Claim(ClaimOutcome.OUT_OF_TRIES, max_tries)
        return Claim(ClaimOutcome.RUN, attempts)

    async def record(
        self,
        job: JobRow,
        status: JobStatus,
        *,
        attempt: int,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        """Store how an attempt ended; `finished_at` is set only when the job is over."""
        row = {
            "job_id": job.job_id,
            "task": job.task,
            "status": status,
            "attempts": attempt,
            "kwargs": job.kwargs,
            "request_id": job.request_id,
            "enqueued_at": job.enqueued_at,
            "result": result,
            "error": error,
            "finished_at": datetime.now(UTC) if status in FINAL_STATUSES else None,
        }
        await self._writes.join(_Write(False, row))

    async def close(self) -> None:
        await self._connection.close()

    async def _commit(self, writes: Sequence[_Write]) -> list[_ClaimedRow | None]:
        """One transaction: the group's claims, then its outcomes; each claim's row, in order."""
        claims = [write.row for write in writes if write.claim]
        outcomes = [write.row for write in writes if not write.claim]
        if self._engine.dialect.name == "postgresql":

            async def commit(connection: asyncpg.Connection) -> dict[str, _ClaimedRow]:
                return await _postgres.commit(connection, claims, outcomes)

            claimed = await self._connection.run(commit)
        else:
            async with self._engine.connect() as connection, connection.begin():
                claimed = await self._write_claims(connection, claims)
                await self._write_outcomes(connection, outcomes)
        return [claimed.get(write.row["job_id"]) if write.claim else None for write in writes]

    async def _write_claims(
        self, connection: AsyncConnection, claims: Sequence[dict[str, Any]]
    ) -> dict[str, _ClaimedRow]:
        """The portable form of the claim upsert (SQLite in development)."""
        if not claims:
            return {}
        table = _TABLE
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
        claimed: dict[str, _ClaimedRow] = {
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

    async def _write_outcomes(
        self, connection: AsyncConnection, outcomes: Sequence[dict[str, Any]]
    ) -> None:
        if not outcomes:
            return
        table = _TABLE
        insert = sqlite.insert(table).values(list(outcomes))
        columns = ("status", "attempts", "result", "error", "finished_at")
        await connection.execute(
            insert.on_conflict_do_update(
                index_elements=[table.c.job_id],
                set_={name: insert.excluded[name] for name in columns},
            )
        )
