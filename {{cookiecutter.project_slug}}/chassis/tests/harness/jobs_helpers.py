"""Enqueue jobs and read them back the way the service does, for the jobs tests."""

from typing import Any

import httpx
from chassis import jobs
from chassis.jobs import history
from chassis.jobs.models import JobRecord
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sample.notes.models import Note


async def submit(
    sessions: async_sessionmaker[AsyncSession], queue: jobs.Queue, message: jobs.Message
) -> str:
    async with sessions() as session:
        submitted = await jobs.submit(session, queue, message, request_id=None)
    return submitted.job_id


async def job_status(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def record(sessions: async_sessionmaker[AsyncSession], job_id: str) -> JobRecord:
    async with sessions() as session:
        found = await history.get(session, job_id)
    assert found is not None, f"no history row for {job_id}"
    return found


async def notes_per_job(
    sessions: async_sessionmaker[AsyncSession], job_ids: list[str]
) -> dict[str, int]:
    """How many note rows each job wrote: the side effect that must happen exactly once."""
    async with sessions() as session:
        rows = await session.execute(
            select(Note.job_id, func.count()).where(Note.job_id.in_(job_ids)).group_by(Note.job_id)
        )
        return {job_id: int(count) for job_id, count in rows}
