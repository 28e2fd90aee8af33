"""The worker's writes to the job history, group-committed: jobs running together share a commit.

Every try is claimed before its task starts, and every outcome is written before arq hears of it.
Doing each in a transaction of its own cost two ORM transactions per try and capped the worker
near 100 jobs/s. Here a claim or an outcome joins the next group: one transaction holding one
multi-row upsert for the claims and one for the outcomes of every job that asked meanwhile. Each
caller waits for its group's commit, so no task starts before its try is durably counted.

Groups form by themselves: a write that arrives while a commit is in flight waits for the next
one, so an idle worker commits each write at once and a busy one commits many per round trip.
If the commit fails, every caller in the group gets the error (an outage, most likely: see
`core.outages`) and decides what to do with its job.
"""

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import connect_asyncpg
from {{ cookiecutter.package_name }}.core.outages import is_outage
from {{ cookiecutter.package_name }}.jobs._worker import _postgres
from {{ cookiecutter.package_name }}.jobs._worker._postgres import ClaimedRow as _ClaimedRow
from {{ cookiecutter.package_name }}.jobs.models import FINAL_STATUSES, JobRecord, JobStatus

# A group statement takes milliseconds; one that takes this long is on a connection that stalled
# (a dropped network path sends no reset). It fails as an outage and the next group reconnects.
STATEMENT_TIMEOUT_SECONDS = 10.0
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


@dataclass(slots=True)
class _Write:
    row: dict[str, Any]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def __post_init__(self) -> None:
        # A job cancelled while it waited never reads its write's error; read it here instead, so
        # asyncio does not log it as never retrieved.
        self.done.add_done_callback(lambda done: done.cancelled() or done.exception())


class Ledger:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        # Postgres: the committer's own connection. Commits are serial, so one is enough, and it
        # skips the pool's checkout and pre-ping, which cost more than the writes themselves.
        self._connection: asyncpg.Connection | None = None
        self._claims: list[_Write] = []
        self._outcomes: list[_Write] = []
        self._committer: asyncio.Task[None] | None = None

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
        attempts, status, result, error = await self._join(self._claims, row)
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
        await self._join(self._outcomes, row)

    async def _join(self, group: list[_Write], row: dict[str, Any]) -> Any:
        write = _Write(row)
        group.append(write)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_groups())
        # A job cancelled while it waits cancels only its own future: its row is in the group
        # already, and the group commits (and settles every other write) as if nothing happened.
        return await write.done

    async def _commit_groups(self) -> None:
        try:
            while self._claims or self._outcomes:
                claims, self._claims = _one_per_job(self._claims)
                taken = {write.row["job_id"] for write in claims}
                outcomes, self._outcomes = _one_per_job(self._outcomes, taken)
                try:
                    claimed = await self._commit(claims, outcomes)
                except Exception as exc:
                    if is_outage(exc) or len(claims) + len(outcomes) == 1:
                        for write in (*claims, *outcomes):
                            _settle(write, exception=exc)
                        continue
                    # One bad row must not fail the jobs it shares a group with: commit each
                    # alone, so the error reaches only its own job.
                    await self._commit_one_by_one(claims, outcomes)
                    continue
                self._settle_group(claims, outcomes, claimed)
        finally:
            self._committer = None

    async def _commit_one_by_one(self, claims: list[_Write], outcomes: list[_Write]) -> None:
        for write in (*claims, *outcomes):
            alone = ([write], []) if write in claims else ([], [write])
            try:
                claimed = await self._commit(*alone)
            except Exception as exc:
                _settle(write, exception=exc)
            else:
                self._settle_group(*alone, claimed)

    def _settle_group(
        self, claims: list[_Write], outcomes: list[_Write], claimed: dict[str, _ClaimedRow]
    ) -> None:
        for write in claims:
            found = claimed.get(write.row["job_id"])
            missing = None if found else LookupError(f"no history row for {write.row['job_id']}")
            _settle(write, result=found, exception=missing)
        for write in outcomes:
            _settle(write, result=None)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _commit(self, claims: list[_Write], outcomes: list[_Write]) -> dict[str, _ClaimedRow]:
        """One transaction: the group's claims, then its outcomes; returns each claimed row."""
        if self._engine.dialect.name == "postgresql":
            rows = ([write.row for write in claims], [write.row for write in outcomes])
            if self._connection is None or self._connection.is_closed():
                self._connection = await connect_asyncpg(
                    self._settings, command_timeout=STATEMENT_TIMEOUT_SECONDS
                )
            try:
                return await _postgres.commit(self._connection, *rows)
            except Exception as exc:
                if is_outage(exc) or self._connection.is_closed():
                    # A new connection next time; this one may be half-open.
                    self._connection.terminate()
                    self._connection = None
                raise
        async with self._engine.connect() as connection:
            async with connection.begin():
                claimed = await self._write_claims(connection, claims)
                await self._write_outcomes(connection, outcomes)
            return claimed

    async def _write_claims(
        self, connection: AsyncConnection, claims: Sequence[_Write]
    ) -> dict[str, _ClaimedRow]:
        """The portable form of the claim upsert (SQLite in development)."""
        if not claims:
            return {}
        table = _TABLE
        insert = sqlite.insert(table).values([write.row for write in claims])
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
        finished = [write.row["job_id"] for write in claims if write.row["job_id"] not in claimed]
        if finished:
            query = select(
                table.c.job_id, table.c.attempts, table.c.status, table.c.result, table.c.error
            ).where(table.c.job_id.in_(finished))
            for job_id, attempts, status, result, error in await connection.execute(query):
                claimed[job_id] = (attempts, status, result, error)
        return claimed

    async def _write_outcomes(
        self, connection: AsyncConnection, outcomes: Sequence[_Write]
    ) -> None:
        if not outcomes:
            return
        table = _TABLE
        insert = sqlite.insert(table).values([write.row for write in outcomes])
        columns = ("status", "attempts", "result", "error", "finished_at")
        await connection.execute(
            insert.on_conflict_do_update(
                index_elements=[table.c.job_id],
                set_={name: insert.excluded[name] for name in columns},
            )
        )


def _one_per_job(
    writes: list[_Write], taken: Collection[str] = ()
) -> tuple[list[_Write], list[_Write]]:
    """This group, and what waits for the next: one commit cannot touch a row twice."""
    group: dict[str, _Write] = {}
    later: list[_Write] = []
    for write in writes:
        if write.row["job_id"] in group or write.row["job_id"] in taken:
            later.append(write)
        else:
            group[write.row["job_id"]] = write
    return list(group.values()), later


def _settle(write: _Write, *, result: Any = None, exception: BaseException | None = None) -> None:
    if write.done.done():
        return
    if exception is not None:
        write.done.set_exception(exception)
    else:
        write.done.set_result(result)
