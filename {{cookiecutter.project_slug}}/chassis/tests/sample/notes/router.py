"""`POST /v1/notes` accepts a `write_note` job; `GET /v1/notes/{note_id}` reads the note."""

import re
from datetime import datetime

from chassis.core import NotFound, StorableText
from chassis.jobs import JobAccepted
from chassis.web import SessionDep, SubmitDep, accepted_responses, problem_responses
from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from sample.notes.models import Note
from sample.notes.tasks import write_note

router = APIRouter(prefix="/v1/notes", tags=["notes"])
# Note ids are uuid4 hex.
_NOTE_ID = re.compile(r"[0-9a-f]{32}")


class NoteRequest(BaseModel):
    # Strict, as the OpenAPI schema reads: `false` or "1" is not a number of seconds but a 422.
    model_config = ConfigDict(extra="forbid", strict=True)

    title: StorableText = Field(min_length=1, max_length=200)
    work_seconds: float = Field(default=0.05, ge=0, le=15, description="Simulated work time.")


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    title: str
    body: str
    created_at: datetime


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=accepted_responses(),
)
async def create_note(body: NoteRequest, submit: SubmitDep) -> JobAccepted:
    """Accept a note and write it in the worker; requires an `Idempotency-Key`."""
    return await submit(write_note.message(title=body.title, work_seconds=body.work_seconds))


@router.get("/{note_id}", response_model=NoteOut, responses=problem_responses(404, 503))
async def get_note(note_id: str, session: SessionDep) -> NoteOut:
    # An id no note can have is unknown without asking the database (which cannot store NUL).
    note = await session.get(Note, note_id) if _NOTE_ID.fullmatch(note_id) else None
    if note is None:
        raise NotFound(f"No note with id {note_id!r}.")
    return NoteOut.model_validate(note)
