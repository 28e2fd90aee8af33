import re
from typing import Annotated

from chassis.core import NotFound
from chassis.web import SessionDep
from fastapi import Depends

from {{ cookiecutter.package_name }}.reports import service
from {{ cookiecutter.package_name }}.reports.models import Report

# Report ids are uuid4 hex (reports/service.py).
_REPORT_ID = re.compile(r"[0-9a-f]{32}")


async def valid_report_id(report_id: str, session: SessionDep) -> Report:
    # An id no report can have is unknown without asking the database (which cannot store NUL).
    report = await service.get(session, report_id) if _REPORT_ID.fullmatch(report_id) else None
    if report is None:
        raise NotFound(f"No report with id {report_id!r}.")
    return report


ReportDep = Annotated[Report, Depends(valid_report_id)]
