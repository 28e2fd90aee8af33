"""Send a digest once per period: the claim, the summary and the send share one transaction.

After downtime nothing is left out: a scheduled digest covers everything since the last digest
sent (`send_since_last`), however many scheduled times were missed, rather than one digest per
missed time.
"""

from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.digests.models import DigestRun
from {{ cookiecutter.package_name }}.digests.notifiers import Notifier
from {{ cookiecutter.package_name }}.digests.period import Period
from {{ cookiecutter.package_name }}.digests.summary import Digest, summarise

log = structlog.get_logger("digests")

# The digest this project ships; the name is part of the unique key, so others can sit beside it.
ACTIVITY = "activity"


async def send_once(
    sessions: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    period: Period,
    *,
    name: str = ACTIVITY,
) -> Digest | None:
    """Summarise `period` and send it, unless a period with its start was sent; None means it was.

    The row is inserted first: a second run for the same period (another worker, a retry, a
    backfill) waits on the unique key until this transaction ends, then finds the row and stops.
    If the send raises, the transaction rolls back and the period is free to be sent again. The
    one gap: a crash after the notifier accepted and before the commit lands sends it twice.
    """
    async with sessions.begin() as session:
        run_id = await _claim(session, name, period, notifier.name)
        if run_id is None:
            log.info("digest_already_sent", digest=name, period=str(period))
            return None
        digest = await _summarise_and_send(session, run_id, name, period, notifier)
    log.info("digest_sent", digest=name, period=str(period), notifier=notifier.name)
    return digest


async def send_since_last(
    sessions: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    end: datetime,
    *,
    first_start: datetime,
    name: str = ACTIVITY,
) -> Digest | None:
    """Send everything since the last digest of `name` up to `end`; None if nothing is left.

    The period starts where the last digest sent ended, or at `first_start` if none was. It is
    claimed, summarised and sent in one transaction, as in `send_once`.
    """
    async with sessions.begin() as session:
        claimed = await _claim_since_last(session, name, end, first_start, notifier.name)
        if claimed is None:
            log.info("digest_already_sent", digest=name, until=end.isoformat())
            return None
        run_id, period = claimed
        digest = await _summarise_and_send(session, run_id, name, period, notifier)
    log.info("digest_sent", digest=name, period=str(period), notifier=notifier.name)
    return digest


async def _claim_since_last(
    session: AsyncSession, name: str, end: datetime, first_start: datetime, notifier: str
) -> tuple[int, Period] | None:
    # A run that loses the race for a start (the unique key) waits for the winner's commit, then
    # reads the winner's end: every lost race moves the start forward, so the loop ends.
    while True:
        last_end = await session.scalar(
            select(func.max(DigestRun.period_end)).where(DigestRun.digest == name)
        )
        start = last_end or first_start
        if start >= end:
            return None
        period = Period(start=start, end=end.astimezone(UTC))
        run_id = await _claim(session, name, period, notifier)
        if run_id is not None:
            return run_id, period


async def _summarise_and_send(
    session: AsyncSession, run_id: int, name: str, period: Period, notifier: Notifier
) -> Digest:
    digest = await summarise(session, name, period)
    await session.execute(
        update(DigestRun).where(DigestRun.id == run_id).values(summary=digest.as_dict())
    )
    await notifier.send(digest)
    return digest


async def _claim(session: AsyncSession, name: str, period: Period, notifier: str) -> int | None:
    values = {
        "digest": name,
        "period_start": period.start,
        "period_end": period.end,
        "notifier": notifier,
        "summary": {},
        "sent_at": datetime.now(UTC),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(DigestRun)
        .values(values)
        .on_conflict_do_nothing(index_elements=["digest", "period_start"])
        .returning(DigestRun.id)
    )
    run_id: int | None = await session.scalar(statement)
    return run_id
