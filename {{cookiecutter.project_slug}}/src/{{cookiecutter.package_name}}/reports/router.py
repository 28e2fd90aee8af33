from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from {{ cookiecutter.package_name }} import jobs
from {{ cookiecutter.package_name }}.jobs.schemas import JobAccepted
from {{ cookiecutter.package_name }}.reports import audit, views
from {{ cookiecutter.package_name }}.reports.dependencies import ReportDep
from {{ cookiecutter.package_name }}.reports.schemas import ReportOut, ReportRequest
from {{ cookiecutter.package_name }}.reports.tasks import generate_report
from {{ cookiecutter.package_name }}.web.dependencies import (
    QueueDep,
    RedisDep,
    RequestIdDep,
    ResourcesDep,
    SessionDep,
    SpawnerDep,
)
from {{ cookiecutter.package_name }}.web.idempotency import IdempotencyKeyDep
from {{ cookiecutter.package_name }}.web.problems import problem_responses

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=problem_responses(400, 409, 413, 422, 503, idempotent=True),
)
async def create_report(
    body: ReportRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    queue: QueueDep,
    request_id: RequestIdDep,
    resources: ResourcesDep,
    background: BackgroundTasks,
    idempotency: IdempotencyKeyDep,
) -> JobAccepted:
    """Accept a report request and generate it in the worker; poll `status_url` for the result.

    Requires an `Idempotency-Key`: a retry with the same key never creates a second report.
    """
    message = generate_report.message(title=body.title, work_seconds=body.work_seconds)
    # Durable tier: the report is a job, retried by the worker and recorded in job history.
    submitted = await jobs.submit(
        session, queue, message, request_id=request_id, job_id=idempotency.job_id
    )
    if submitted.created:
        # Best-effort tier: after the response, with ids only, never this request's session.
        background.add_task(audit.log_report_requested, resources.sessions, job_id=submitted.job_id)
    status_url = request.app.url_path_for("get_job", job_id=submitted.job_id)
    response.headers["Location"] = status_url
    return JobAccepted(job_id=submitted.job_id, status=submitted.status, status_url=status_url)


@router.get("/{report_id}", response_model=ReportOut, responses=problem_responses(404, 503))
async def get_report(report: ReportDep, spawner: SpawnerDep, redis: RedisDep) -> ReportOut:
    # Fan-out tier: the reader does not wait for the count, and a lost count is harmless.
    spawner.spawn(views.record_view(redis, report.id), name="record_report_view")
    return ReportOut.model_validate(report)
