"""`SubmitDep`: a route's way to accept a job (`jobs/accept.py`), in one parameter.

    @router.post("", status_code=202, response_model=JobAccepted)
    async def create_report(body: ReportRequest, submit: SubmitDep) -> JobAccepted:
        return await submit(generate_report.message(title=body.title))

The call records the job's row (group-committed), enqueues the job under the
id its Idempotency-Key derives (a retry never makes a second job), stores the 202 for replay in
the enqueue's own round trip, sets `Location` to the job's status URL and returns the
`JobAccepted` body. The route requires an `Idempotency-Key` (400 without one, declared required
in the OpenAPI document) and carries the request id into the job.
"""

import functools
from typing import Annotated

from chassis.jobs.models import JobStatus
from chassis.jobs.queue import CompareAndSet
from chassis.jobs.registry import Message
from chassis.jobs.schemas import JobAccepted
from chassis.web import idempotency
from chassis.web.idempotency_store import StoredResponse
from chassis.web.principal import PrincipalDep
from chassis.web.resources import Resources
from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

# The route that reports a job's status (`web/job_status.py`).
STATUS_ROUTE = "get_job"
_PLACEHOLDER = "0job0id0"


@functools.lru_cache(maxsize=16)
def _status_path(app: Starlette) -> str:
    """The status route's path with `{job_id}` in it: `url_path_for` walks every route."""
    return app.url_path_for(STATUS_ROUTE, job_id=_PLACEHOLDER).replace(_PLACEHOLDER, "{job_id}")


class Submitter:
    """One request's way to accept a job (`SubmitDep`); call it once."""

    def __init__(
        self,
        request: Request,
        response: Response,
        resources: Resources,
        request_id: str,
        key: idempotency.IdempotentRequest,
    ) -> None:
        self._request = request
        self._response = response
        self._resources = resources
        self._request_id = request_id
        self._key = key

    @property
    def job_id(self) -> str:
        """The id the job gets: the same for every retry of this request."""
        return self._key.job_id

    async def __call__(
        self, message: Message, *, defer_seconds: float = 0, session: AsyncSession | None = None
    ) -> JobAccepted:
        """Accept `message` as a durable job; answer with what the client polls.

        A route that adds rows of its own passes its `session`: they commit together with the
        job's row (`jobs.submit`), before the enqueue.
        """
        job_id = self._key.job_id
        status_url = _status_path(self._request.app).format(job_id=job_id)

        def store_response(status: JobStatus) -> CompareAndSet | None:
            # The 202 this route answers, stored for replay by the enqueue's own round trip.
            accepted = JobAccepted(job_id=job_id, status=status, status_url=status_url)
            headers = [("content-type", "application/json"), ("location", status_url)]
            stored = StoredResponse(202, headers, accepted.model_dump_json().encode())
            return idempotency.completion(self._request, stored)

        submitted = await self._resources.intake.submit(
            message,
            request_id=self._request_id,
            job_id=job_id,
            defer_seconds=defer_seconds,
            session=session,
            also=store_response,
        )
        if submitted.also_written is not None:
            # The enqueue ran, and stored the response unless the claim had expired meanwhile.
            idempotency.settled(self._request, written=submitted.also_written)
        self._response.headers["Location"] = status_url
        return JobAccepted(job_id=job_id, status=submitted.status, status_url=status_url)


async def get_submitter(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    # Declared for FastAPI: required in the OpenAPI document, 400 when missing. `claim_request`
    # reads the raw headers itself, to refuse a key sent twice.
    key: idempotency.RequiredKeyHeader,
) -> Submitter:
    # The key is claimed here rather than through IdempotencyKeyDep, and the resources read from
    # the request: each nested dependency costs FastAPI a solve on every request.
    resources: Resources = request.state.resources
    claimed = await idempotency.claim_request(request, principal, resources)
    return Submitter(request, response, resources, request.state.request_id, claimed)


SubmitDep = Annotated[Submitter, Depends(get_submitter)]
