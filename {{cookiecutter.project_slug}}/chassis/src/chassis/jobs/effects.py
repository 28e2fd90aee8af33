"""Run a task's side effect once per business key, however often its job is delivered.

arq delivers at least once: a job whose worker died runs again. A task guards its side effect by
recording a business key in the same transaction as the effect:

    async with ctx.sessions.begin() as session:
        if await run_once(session, f"invoice-sent:{invoice_id}", job_id=ctx.job_id):
            ...  # the effect: rows written in this same transaction

Both commit or neither does. A second delivery finds the key and skips; a concurrent one waits
on the key's unique index until the first commits (then skips) or rolls back (then runs). A Redis
lock would not do: it can expire while the first delivery is still running.
"""

from datetime import UTC, datetime

from chassis.jobs.models import RunOnceKey
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def run_once(session: AsyncSession, key: str, *, job_id: str | None = None) -> bool:
    """Record `key` in the session's transaction: True the first time, False once it is done."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(RunOnceKey)
        .values(key=key, job_id=job_id, created_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=[RunOnceKey.key])
        .returning(RunOnceKey.key)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None
