"""HTTP shapes of the job status API."""

from chassis.jobs.models import JobStatus
from pydantic import BaseModel


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    status_url: str
