"""`SubmitDep`: a route's way to accept a job (`jobs/accept.py`), in one parameter.

    @router.post("", status_code=202, response_model=JobAccepted)
    async def create_report(body: ReportRequest, submit: SubmitDep) -> JobAccepted:
        return await submit(generate_report.message(title=body.title))

The call records the job's row (group-committed), enqueues the job under the
id its Idempotency-Key derives (a retry never makes a second job), stores the 202 for replay in
the enqueue's own round trip, sets `Location` to the job's status URL and returns the
`JobAccepted` body. The route requires an `Idempotency-Key` (400 without one, declared required
in the OpenAPI document) and carries the request id into the job.

`responses=accepted_responses()` documents such a route in one declaration: the 202's headers
(`Location`, `X-Request-ID`, the RateLimit pair, `Idempotent-Replayed`) and the problems SubmitDep
can answer with; pass the route's own problems (`accepted_responses(404)`) beside them.
"""

import functools
from typing import Annotated, Any

from chassis.jobs.models import JobStatus
from chassis.jobs.queue import CompareAndSet
from chassis.jobs.registry import Message
from chassis.jobs.schemas import JobAccepted
from chassis.web import idempotency
from chassis.web.idempotency_store import StoredResponse
from chassis.web.principal import PrincipalDep
from chassis.web.problems import problem_responses
from chassis.web.request_context import REQUEST_ID_HEADER
from chassis.web.resources import Resources
from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

# The route that reports a job's status (`web/job_status.py`).
STATUS_ROUTE = "get_job"
_PLACEHOLDER = "0job0id0"
# The headers of a SubmitDep route's 202, as the OpenAPI document states them; the RateLimit pair
# is absent while rate limiting is off, `Idempotent-Replayed` on a first answer.
ACCEPTED_HEADERS: dict[str, dict[str, Any]] = {
    "Location": {
        "description": "The job's status URL, the body's `status_url`: poll it for the result.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    REQUEST_ID_HEADER: {
        "description": "This request's id, which the job carries into its logs and traces.",
        "required": True,
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": 'The route\'s rate-limit policy (IETF RateLimit draft): `"NAME";q=QUOTA;w=SECONDS`.',
        "schema": {"type": "string", "pattern": r'^"[a-z0-9][a-z0-9._-]*";q=\d+;w=\d+$'},
    },
    "RateLimit": {
        "description": 'What is left of the quota: `"NAME";r=REMAINING;t=SECONDS_TO_RESET`.',
        "schema": {"type": "string", "pattern": r'^"[a-z0-9][a-z0-9._-]*";r=\d+;t=\d+$'},
    },
    idempotency.REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with the key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


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


def accepted_responses(*problems: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that accepts a job through SubmitDep: its 202 and its problems.

    SubmitDep's own problems are always listed: 400 (no Idempotency-Key), 409 (the key's first
    request still runs), 422 (the key came with another payload) and 503 (an outage).
    """
    accepted = {"description": "The job is accepted.", "headers": ACCEPTED_HEADERS}
    return {202: accepted, **problem_responses(400, 409, 422, 503, *problems, idempotent=True)}
