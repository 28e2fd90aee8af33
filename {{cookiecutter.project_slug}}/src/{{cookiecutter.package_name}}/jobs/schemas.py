"""HTTP shapes of the job status API."""

from pydantic import BaseModel

from {{ cookiecutter.package_name }}.jobs.models import JobStatus


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    status_url: str
