"""Send a digest once per period: the claim, the summary and the send share one transaction."""

from datetime import UTC, datetime

import structlog
from sqlalchemy import update
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
    """Summarise `period` and send it, unless it was sent already; None means it was.

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
        digest = await summarise(session, name, period)
        await session.execute(
            update(DigestRun).where(DigestRun.id == run_id).values(summary=digest.as_dict())
        )
        await notifier.send(digest)
    log.info("digest_sent", digest=name, period=str(period), notifier=notifier.name)
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
        .on_conflict_do_nothing(index_elements=["digest", "period_start", "period_end"])
        .returning(DigestRun.id)
    )
    run_id: int | None = await session.scalar(statement)
    return run_id
