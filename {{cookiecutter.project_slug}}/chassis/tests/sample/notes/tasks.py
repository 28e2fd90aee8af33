"""The notes tasks: one note per job (run_once), and a scheduled tally (`NOTES_SCHEDULE`)."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from chassis.jobs import JobContext, Schedule, cron, run_once, task
from chassis.settings import Settings
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select

from sample.notes.models import Note


class NotesSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTES_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    schedule: str = "0 8 * * *"

    @field_validator("schedule")
    @classmethod
    def schedule_parses(cls, value: str) -> str:
        Schedule.parse(value)
        return value


# No timeout of its own: JOB_TIMEOUT_SECONDS applies, so a test sets the redelivery delay.
@task(max_tries=3)
async def write_note(ctx: JobContext, *, title: str, work_seconds: float) -> dict[str, Any]:
    """Simulate `work_seconds` of work, then store the note: once, however often it runs."""
    await asyncio.sleep(work_seconds)
    async with ctx.sessions.begin() as session:
        if await run_once(session, f"write_note:{ctx.job_id}", job_id=ctx.job_id):
            note = Note(
                id=uuid.uuid4().hex,
                job_id=ctx.job_id,
                title=title,
                body=f"{title}: written by job {ctx.job_id}.",
                created_at=datetime.now(UTC),
            )
            session.add(note)
        else:
            # An earlier delivery wrote it, in the same transaction that recorded the key.
            found = await session.scalar(select(Note).where(Note.job_id == ctx.job_id))
            assert found is not None, "run_once key without its note"
            note = found
    return {"note_id": note.id, "title": note.title}


def notes_schedule(_settings: Settings) -> str:
    return NotesSettings().schedule


@cron(schedule=notes_schedule)
@task(queue="scheduled", max_tries=2)
async def tally_notes(ctx: JobContext, *, scheduled_at: str) -> dict[str, Any]:
    """Count the notes written before `scheduled_at`."""
    until = datetime.fromisoformat(scheduled_at)
    async with ctx.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Note).where(Note.created_at < until)
        )
    return {"scheduled_at": scheduled_at, "notes": count or 0}
