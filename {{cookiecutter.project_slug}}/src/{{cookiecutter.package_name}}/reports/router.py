from fastapi import APIRouter, Request, Response, status

from {{ cookiecutter.package_name }} import jobs
from {{ cookiecutter.package_name }}.core.dependencies import QueueDep, RequestIdDep, SessionDep
from {{ cookiecutter.package_name }}.core.idempotency import IdempotencyKeyDep
from {{ cookiecutter.package_name }}.jobs.schemas import JobAccepted
from {{ cookiecutter.package_name }}.reports.dependencies import ReportDep
from {{ cookiecutter.package_name }}.reports.schemas import ReportOut, ReportRequest
from {{ cookiecutter.package_name }}.reports.tasks import generate_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def create_report(
    body: ReportRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    queue: QueueDep,
    request_id: RequestIdDep,
    idempotency: IdempotencyKeyDep,
) -> JobAccepted:
    """Accept a report request and generate it in the worker; poll `status_url` for the result.

    Requires an `Idempotency-Key`: a retry with the same key never creates a second report.
    """
    message = generate_report.message(title=body.title, work_seconds=body.work_seconds)
    submitted = await jobs.submit(
        session, queue, message, request_id=request_id, job_id=idempotency.job_id
    )
    status_url = request.app.url_path_for("get_job", job_id=submitted.job_id)
    response.headers["Location"] = status_url
    return JobAccepted(job_id=submitted.job_id, status=submitted.status, status_url=status_url)


@router.get("/{report_id}", response_model=ReportOut)
async def get_report(report: ReportDep) -> ReportOut:
    return ReportOut.model_validate(report)
