"""Job history in Postgres: outlives arq's results, which expire from Redis."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from chassis.core.db import Base, UTCDateTime
from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column


class JobStatus(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    # arq gave up on the job outside our runner (e.g. no worker knows its task).
    FAILED = "failed"
    # A dead letter: failed permanently or ran out of tries; replayable from the CLI.
    DEAD = "dead"


FINAL_STATUSES = frozenset({JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.DEAD})


class JobRecord(Base):
    __tablename__ = "job_history"
    __table_args__ = (
        # /metrics counts dead letters at every scrape; this index holds only those rows.
        Index(
            "ix_job_history_dead",
            "job_id",
            postgresql_where=text("status = 'dead'"),
            sqlite_where=text("status = 'dead'"),
        ),
    )

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    result: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # A replayed dead letter and its new job point at each other.
    replay_of: Mapped[str | None] = mapped_column(String(64))
    replayed_as: Mapped[str | None] = mapped_column(String(64))


class RunOnceKey(Base):
    """A side effect that has happened: written in the same transaction as the effect itself."""

    __tablename__ = "run_once"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
