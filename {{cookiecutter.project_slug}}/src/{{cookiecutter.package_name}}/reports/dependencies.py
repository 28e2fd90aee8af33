from typing import Annotated

from fastapi import Depends

from {{ cookiecutter.package_name }}.core.dependencies import SessionDep
from {{ cookiecutter.package_name }}.core.errors import NotFound
from {{ cookiecutter.package_name }}.reports import service
from {{ cookiecutter.package_name }}.reports.models import Report


async def valid_report_id(report_id: str, session: SessionDep) -> Report:
    report = await service.get(session, report_id)
    if report is None:
        raise NotFound(f"No report with id {report_id!r}.")
    return report


ReportDep = Annotated[Report, Depends(valid_report_id)]
