"""HTTP shapes of the job status API."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from {{ cookiecutter.package_name }}.jobs.models import JobStatus


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    status_url: str


class JobOut(BaseModel):
    job_id: str
    task: str
    status: JobStatus
    attempts: int
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    result: Any
    error: str | None
    # A replayed dead letter and its new job name each other.
    replay_of: str | None = None
    replayed_as: str | None = None
