"""The worker's job-history writes, batched: a few statements per flush instead of two
transactions per job.

A job's start is queued without waiting, so the task runs while it is written; its finish is
queued when the task ends, and the job then waits until both rows are committed. arq stores the
result only after that, so the history is never behind what Redis says. Writes are collected for
`flush_seconds` after the first one arrives, then written in one autocommit statement per kind on
a connection of the writer's own, starts before finishes. A batch that fails is written again row
by row (every write is idempotent), so a bad row fails its own job only.
"""

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import JSON, Insert, Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from {{ cookiecutter.package_name }}.core.db import create_session_factory
from {{ cookiecutter.package_name }}.jobs import history
from {{ cookiecutter.package_name }}.jobs.models import JobRecord, JobStatus

log = structlog.get_logger("jobs")

TABLE: Table = JobRecord.__table__  # type: ignore[assignment]  # a mapped class's Table

# Long enough to gather the writes of many jobs into one statement, short next to a poll delay.
FLUSH_SECONDS = 0.005

# Every finish of a batch in one executemany. Bound names must differ from the columns an
# UPDATE sets, hence the prefix.
_FINISH = (
    update(TABLE)
    .where(TABLE.c.job_id == bindparam("b_job_id"))
    .values(
        status=bindparam("b_status"),
        result=bindparam("b_result", type_=JSON),
        error=bindparam("b_error"),
        finished_at=bindparam("b_finished_at", type_=TABLE.c.finished_at.type),
    )
)


@functools.cache
def _start_statement(dialect: str) -> Insert:
    """history.mark_started for many rows, built once per dialect (building costs more than
    executing)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(TABLE)
    attempt = {name: statement.excluded[name] for name in ("status", "attempts", "started_at")}
    return statement.on_conflict_do_update(index_elements=[TABLE.c.job_id], set_=attempt)


def _future() -> "asyncio.Future[None]":
    return asyncio.get_running_loop().create_future()


@dataclass
class _Start:
    fields: dict[str, Any]
    at: datetime = field(default_factory=history.utcnow)
    done: "asyncio.Future[None]" = field(default_factory=_future)

    def row(self) -> dict[str, Any]:
        row = {name: value for name, value in self.fields.items() if name != "attempt"}
        return row | {
            "attempts": self.fields["attempt"],
            "status": JobStatus.IN_PROGRESS,
            "started_at": self.at,
        }

    async def write_alone(self, session: AsyncSession) -> None:
        await history.mark_started(session, **self.fields)


@dataclass
class _Finish:
    fields: dict[str, Any]
    at: datetime = field(default_factory=history.utcnow)
    done: "asyncio.Future[None]" = field(default_factory=_future)

    def row(self) -> dict[str, Any]:
        row = {f"b_{name}": value for name, value in self.fields.items()}
        return row | {"b_finished_at": self.at}

    async def write_alone(self, session: AsyncSession) -> None:
        await history.mark_finished(session, **self.fields)


class HistoryWriter:
    """Batches one worker's history writes. `start()` it in the worker's loop, `close()` it last."""

    def __init__(self, engine: AsyncEngine, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._engine = engine
        self._sessions = create_session_factory(engine)
        self._flush_seconds = flush_seconds
        self._queue: list[_Start | _Finish] = []
        self._starts: dict[str, _Start] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="job-history-writer")

    async def close(self) -> None:
        """Write everything queued, then stop; a write that comes later is written alone."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        leftover, self._queue = self._queue, []
        for write in leftover:
            await self._write_alone(write)

    @property
    def _accepting(self) -> bool:
        return self._task is not None and not self._task.done()

    def started(
        self,
        *,
        job_id: str,
        task: str,
        attempt: int,
        kwargs: dict[str, Any],
        request_id: str | None,
        enqueued_at: datetime,
    ) -> None:
        """Queue the record of an attempt (creating the row for jobs enqueued without one)."""
        fields = {
            "job_id": job_id,
            "task": task,
            "attempt": attempt,
            "kwargs": kwargs,
            "request_id": request_id,
            "enqueued_at": enqueued_at,
        }
        write = _Start(fields)
        self._starts[job_id] = write
        if self._accepting:
            self._queue.append(write)
            self._wake.set()

    async def finished(
        self, *, job_id: str, status: JobStatus, result: Any = None, error: str | None = None
    ) -> None:
        """Record how an attempt ended; returns once its start and finish are committed."""
        write = _Finish({"job_id": job_id, "status": status, "result": result, "error": error})
        start = self._starts.pop(job_id, None)
        if self._accepting:
            self._queue.append(write)
            self._wake.set()
        else:
            if start is not None and not start.done.done():
                await self._write_alone(start)
            await self._write_alone(write)
        if start is None:
            await write.done
        else:
            await asyncio.gather(start.done, write.done)

    async def _run(self) -> None:
        connection: AsyncConnection | None = None
        try:
            while self._queue or not self._closing:
                await self._wake.wait()
                if not self._closing:
                    await asyncio.sleep(self._flush_seconds)
                self._wake.clear()
                batch, self._queue = self._queue, []
                connection = await self._write_batch(connection, batch)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()

    async def _write_batch(
        self, connection: AsyncConnection | None, batch: list[_Start | _Finish]
    ) -> AsyncConnection | None:
        """Write a batch, starts first; returns the connection for the next batch."""
        starts = [write for write in batch if isinstance(write, _Start)]
        finishes = [write for write in batch if isinstance(write, _Finish)]
        for group in (starts, finishes):
            if not group:
                continue
            try:
                if connection is None:
                    connection = await self._engine.connect()
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                statement = (
                    _start_statement(connection.dialect.name) if group is starts else _FINISH
                )
                await connection.execute(statement, [write.row() for write in group])
                await connection.commit()
            except Exception as exc:
                # The connection may be what failed: the next batch gets a fresh one.
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
                connection = None
                await self._write_each(group, exc)
                continue
            for write in group:
                _settle(write)
        return connection

    async def _write_each(self, group: list[_Start] | list[_Finish], error: Exception) -> None:
        if len(group) == 1:
            _settle(group[0], error)
            return
        log.warning("job_history_batch_failed", rows=len(group), error=repr(error))
        for write in group:
            await self._write_alone(write)

    async def _write_alone(self, write: _Start | _Finish) -> None:
        try:
            async with self._sessions.begin() as session:
                await write.write_alone(session)
        except Exception as exc:
            _settle(write, exc)
            return
        _settle(write)


def _settle(write: _Start | _Finish, error: Exception | None = None) -> None:
    # A job cancelled while it waited has given up on the future; its row is written anyway.
    if write.done.done():
        return
    if error is None:
        write.done.set_result(None)
    else:
        write.done.set_exception(error)
