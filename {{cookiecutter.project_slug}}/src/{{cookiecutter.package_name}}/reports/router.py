from fastapi import APIRouter, Request, Response, status

from {{ cookiecutter.package_name }} import jobs
from {{ cookiecutter.package_name }}.core.dependencies import QueueDep, RequestIdDep, SessionDep
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
) -> JobAccepted:
    """Accept a report request and generate it in the worker; poll `status_url` for the result."""
    message = generate_report.message(title=body.title, work_seconds=body.work_seconds)
    job_id = await jobs.submit(session, queue, message, request_id=request_id)
    status_url = request.app.url_path_for("get_job", job_id=job_id)
    response.headers["Location"] = status_url
    return JobAccepted(job_id=job_id, status=jobs.JobStatus.QUEUED, status_url=status_url)


@router.get("/{report_id}", response_model=ReportOut)
async def get_report(report: ReportDep) -> ReportOut:
    return ReportOut.model_validate(report)
