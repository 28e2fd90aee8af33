"""The group-committed writes: the accept path's rows (web) and the worker's claims and outcomes.

Each kind groups with its own kind, on a Postgres connection of its own, opened on first use: the
web process never opens the worker's, nor the worker the web's. A caller waits for its group's
commit, so a 202 means the row is durable, no task starts before its try is counted, and arq hears
of no outcome before it is written. If a commit fails, every caller in the group gets the error (an
outage, most likely: see `core.outages`) and decides what to do with its job.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
from chassis.jobs.history import _portable, _postgres
from chassis.jobs.history._group_commit import DedicatedConnection, GroupCommit
from chassis.jobs.history._postgres import ClaimedRow
from chassis.jobs.models import FINAL_STATUSES, JobStatus
from chassis.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

# Whether the row is new, and the status of the job.
Queued = tuple[bool, JobStatus]


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


class Writer:
    """This process's group commits to the job history; `close` at shutdown."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._queued_connection = DedicatedConnection(settings)
        self._worker_connection = DedicatedConnection(settings)
        # One write per job in a group: one commit cannot touch a row twice.
        self._queued: GroupCommit[dict[str, Any], Queued] = GroupCommit(
            self._commit_queued, key=_job_id
        )
        self._writes: GroupCommit[_Write, ClaimedRow | None] = GroupCommit(
            self._commit_writes, key=lambda write: write.row["job_id"]
        )

    async def add_queued(
        self,
        *,
        job_id: str,
        task: str,
        kwargs: dict[str, Any],
        request_id: str | None,
        deferred: bool,
        enqueued_at: datetime,
    ) -> Queued:
        """Add a job's row unless it has one: whether this call added it, and the job's status."""
        row = {
            "job_id": job_id,
            "task": task,
            "status": JobStatus.DEFERRED if deferred else JobStatus.QUEUED,
            "attempts": 0,
            "kwargs": kwargs,
            "request_id": request_id,
            "enqueued_at": enqueued_at,
        }
        return await self._queued.join(row)

    async def discard(self, job_id: str) -> None:
        """Remove the row `add_queued` added, for a job the queue did not take."""
        async with self._engine.begin() as connection:
            await _portable.discard(connection, job_id)

    async def claim(self, job: JobRow, *, max_tries: int) -> Claim:
        """Count the next try and mark the job running, unless it is finished or out of tries.

        A try is counted here, just before the task runs, so a delivery that never got this far
        (Redis or the database down) does not use one up. Creates the row for jobs enqueued
        without one (cron, other services).
        """
        row = _job_columns(job) | {
            "status": JobStatus.IN_PROGRESS,
            "attempts": 1,
            "started_at": datetime.now(UTC),
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
        row = _job_columns(job) | {
            "status": status,
            "attempts": attempt,
            "result": result,
            "error": error,
            "finished_at": datetime.now(UTC) if status in FINAL_STATUSES else None,
        }
        await self._writes.join(_Write(False, row))

    async def close(self) -> None:
        await self._queued_connection.close()
        await self._worker_connection.close()

    async def _commit_queued(self, rows: Sequence[dict[str, Any]]) -> list[Queued]:
        if self._dialect == "postgresql":

            async def insert(connection: asyncpg.Connection) -> dict[str, tuple[bool, str | None]]:
                return await _postgres.add_queued(connection, rows)

            found = await self._queued_connection.run(insert)
        else:
            async with self._engine.begin() as connection:
                added = await _portable.add_queued(connection, rows, dialect=self._dialect)
                known = await _portable.statuses(
                    connection, [job_id for job_id, new in added.items() if not new]
                )
            found = {job_id: (new, known.get(job_id)) for job_id, new in added.items()}
        return [_queued(row, *found[row["job_id"]]) for row in rows]

    async def _commit_writes(self, writes: Sequence[_Write]) -> list[ClaimedRow | None]:
        """One transaction: the group's claims, then its outcomes; each claim's row, in order."""
        claims = [write.row for write in writes if write.claim]
        outcomes = [write.row for write in writes if not write.claim]
        if self._dialect == "postgresql":

            async def commit(connection: asyncpg.Connection) -> dict[str, ClaimedRow]:
                return await _postgres.claim_and_record(connection, claims, outcomes)

            claimed = await self._worker_connection.run(commit)
        else:
            async with self._engine.connect() as connection, connection.begin():
                claimed = await _portable.claim(connection, claims)
                await _portable.record(connection, outcomes)
        return [claimed.get(write.row["job_id"]) if write.claim else None for write in writes]


def _job_id(row: dict[str, Any]) -> str:
    job_id: str = row["job_id"]
    return job_id


def _job_columns(job: JobRow) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "task": job.task,
        "kwargs": job.kwargs,
        "request_id": job.request_id,
        "enqueued_at": job.enqueued_at,
    }


def _queued(row: dict[str, Any], inserted: bool, status: str | None) -> Queued:
    # A row another request inserted after the statement's snapshot has no status here: it was
    # queued a moment ago, and enqueueing it again is a no-op.
    return inserted, row["status"] if inserted or status is None else JobStatus(status)
