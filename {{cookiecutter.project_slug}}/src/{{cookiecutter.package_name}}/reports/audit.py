"""The audit trail of the reports feature: best-effort lines written after the response is sent."""

import structlog
from chassis.web import after_response

log = structlog.get_logger("audit")


@after_response
async def log_report_requested(*, job_id: str, title: str) -> None:
    """Log the accepted report request, from what the request knew: its row is committed already.

    Losing a line (the process dies before it runs) is acceptable here; an audit trail that must
    be complete belongs in the same transaction as the change it records.
    """
    log.info("report_requested", job_id=job_id, title=title)
