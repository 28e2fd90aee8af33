"""The audit trail of the reports feature: best-effort lines written after the response is sent."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.jobs import history
from {{ cookiecutter.package_name }}.web.background import after_response

log = structlog.get_logger("audit")


@after_response
async def log_report_requested(sessions: async_sessionmaker[AsyncSession], *, job_id: str) -> None:
    """Log the report request as it was committed, read back in a session of its own.

    Losing a line (the process dies before it runs) is acceptable here; an audit trail that must
    be complete belongs in the same transaction as the change it records.
    """
    async with sessions() as session:
        record = await history.get(session, job_id)
    if record is None:
        log.warning("report_request_not_found", job_id=job_id)
        return
    log.info(
        "report_requested",
        job_id=job_id,
        task=record.task,
        title=record.kwargs.get("title"),
        enqueued_at=record.enqueued_at.isoformat(),
    )
