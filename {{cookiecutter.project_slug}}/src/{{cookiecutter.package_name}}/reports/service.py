"""Report persistence. Services add and flush; the request or job owns the commit."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.reports.models import Report


async def get(session: AsyncSession, report_id: str) -> Report | None:
    return await session.get(Report, report_id)


async def get_by_job(session: AsyncSession, job_id: str) -> Report | None:
    return await session.scalar(select(Report).where(Report.job_id == job_id))


async def create(session: AsyncSession, *, job_id: str, title: str, body: str) -> Report:
    report = Report(
        id=uuid.uuid4().hex,
        job_id=job_id,
        title=title,
        body=body,
        created_at=datetime.now(UTC),
    )
    session.add(report)
    await session.flush()
    return report


async def count_created(session: AsyncSession, start: datetime, end: datetime) -> int:
    """Reports created in [start, end): what the digests feature reports of this one."""
    count = await session.scalar(
        select(func.count())
        .select_from(Report)
        .where(Report.created_at >= start, Report.created_at < end)
    )
    return count or 0
