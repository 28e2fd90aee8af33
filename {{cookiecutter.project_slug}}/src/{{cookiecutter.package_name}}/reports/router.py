from chassis.jobs import JobAccepted
from chassis.web import (
    RedisDep,
    SpawnerDep,
    SubmitDep,
    accepted_responses,
    problem_responses,
)
from fastapi import APIRouter, BackgroundTasks, status

from {{ cookiecutter.package_name }}.reports import audit, views
from {{ cookiecutter.package_name }}.reports.dependencies import ReportDep
from {{ cookiecutter.package_name }}.reports.schemas import ReportOut, ReportRequest
from {{ cookiecutter.package_name }}.reports.tasks import generate_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    # The 202's headers and SubmitDep's problems; the body's 413 is added for every such route.
    responses=accepted_responses(),
)
async def create_report(
    body: ReportRequest, submit: SubmitDep, background: BackgroundTasks
) -> JobAccepted:
    """Accept a report request and generate it in the worker; poll `status_url` for the result.

    Requires an `Idempotency-Key`: a retry with the same key never creates a second report.
    """
    # Durable tier: the report is a job, retried by the worker and recorded in job history.
    accepted = await submit(
        generate_report.message(title=body.title, work_seconds=body.work_seconds)
    )
    # Best-effort tier: after the response, with what the request knows, never its session.
    background.add_task(audit.log_report_requested, job_id=accepted.job_id, title=body.title)
    return accepted


@router.get("/{report_id}", response_model=ReportOut, responses=problem_responses(404, 503))
async def get_report(report: ReportDep, spawner: SpawnerDep, redis: RedisDep) -> ReportOut:
    # Fan-out tier: the reader does not wait for the count, and a lost count is harmless.
    spawner.spawn(views.record_view(redis, report.id), name="record_report_view")
    return ReportOut.model_validate(report)
