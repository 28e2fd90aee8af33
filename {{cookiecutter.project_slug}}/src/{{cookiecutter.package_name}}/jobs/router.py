"""`GET /v1/jobs/{job_id}`: the status of any job, whichever feature enqueued it."""

from fastapi import APIRouter

from {{ cookiecutter.package_name }}.core.dependencies import QueueDep, SessionDep
from {{ cookiecutter.package_name }}.core.errors import NotFound
from {{ cookiecutter.package_name }}.jobs.status import JobView, get_status

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobView, name="get_job")
async def get_job(job_id: str, session: SessionDep, queue: QueueDep) -> JobView:
    view = await get_status(session, queue, job_id)
    if view is None:
        raise NotFound(f"No job with id {job_id!r}.")
    return view
