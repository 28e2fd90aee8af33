"""What a digest says: counts of the period's job outcomes and of the reports it created."""

from dataclasses import dataclass
from typing import Any

from chassis.jobs import JobRecord
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.digests.period import Period
from {{ cookiecutter.package_name }}.reports import service as report_service

# Statuses by their stored text, so a status added later (e.g. "dead") needs no code here.
COUNTED_STATUSES = {"complete": "jobs_completed", "failed": "jobs_failed", "dead": "jobs_dead"}


@dataclass(frozen=True, slots=True)
class Digest:
    name: str
    period: Period
    jobs_completed: int
    jobs_failed: int
    jobs_dead: int
    reports_created: int

    def counts(self) -> dict[str, int]:
        return {
            "jobs_completed": self.jobs_completed,
            "jobs_failed": self.jobs_failed,
            "jobs_dead": self.jobs_dead,
            "reports_created": self.reports_created,
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape the webhook posts and the task returns."""
        return {
            "digest": self.name,
            "period_start": self.period.start.isoformat(),
            "period_end": self.period.end.isoformat(),
            **self.counts(),
        }

    @property
    def subject(self) -> str:
        return f"{self.name} digest, {self.period.start:%Y-%m-%d %H:%M} to {self.period.end:%Y-%m-%d %H:%M} UTC"

    def as_text(self) -> str:
        lines = [self.subject, ""]
        lines += [f"{label.replace('_', ' ')}: {value}" for label, value in self.counts().items()]
        return "\n".join(lines) + "\n"


async def summarise(session: AsyncSession, name: str, period: Period) -> Digest:
    """Jobs by the time they finished, reports by the time they were created, in [start, end)."""
    finished = await session.execute(
        select(JobRecord.status, func.count())
        .where(JobRecord.finished_at >= period.start, JobRecord.finished_at < period.end)
        .where(JobRecord.status.in_(COUNTED_STATUSES))
        .group_by(JobRecord.status)
    )
    counts = {field: 0 for field in COUNTED_STATUSES.values()}
    for status, count in finished.all():
        counts[COUNTED_STATUSES[status]] = count
    reports = await report_service.count_created(session, period.start, period.end)
    return Digest(name=name, period=period, reports_created=reports, **counts)
