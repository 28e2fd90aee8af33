"""`GET /v1/jobs/{job_id}`: the status of any job, whichever feature enqueued it."""

import re

from chassis.core.errors import NotFound
from chassis.jobs.status import JobView, get_status
from chassis.web.dependencies import QueueDep, SessionDep
from chassis.web.problems import problem_responses
from fastapi import APIRouter

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# The ids jobs get: 32 hex digits (`new_job_id`, or derived from an Idempotency-Key) or
# `cron:<task>:<ms>` (jobs/schedules.py), at most 64 characters (job_history.job_id).
_JOB_ID = re.compile(r"[0-9a-f]{32}|cron:[\w.-]+:[0-9]{1,16}")
_MAX_JOB_ID = 64


@router.get(
    "/{job_id}", response_model=JobView, name="get_job", responses=problem_responses(404, 503)
)
async def get_job(job_id: str, session: SessionDep, queue: QueueDep) -> JobView:
    # An id no job can have is unknown without asking the database, which could not even
    # store some of them (NUL).
    well_formed = len(job_id) <= _MAX_JOB_ID and _JOB_ID.fullmatch(job_id)
    view = await get_status(session, queue, job_id) if well_formed else None
    if view is None:
        raise NotFound(f"No job with id {job_id!r}.")
    return view
