from datetime import datetime

from chassis.core import StorableText
from pydantic import BaseModel, ConfigDict, Field

# Bounded so an example request cannot park a worker slot for long.
MAX_WORK_SECONDS = 15.0


class ReportRequest(BaseModel):
    # Strict, as the OpenAPI schema reads: `false` or "1" is not a number of seconds but a 422.
    model_config = ConfigDict(extra="forbid", strict=True)

    title: StorableText = Field(min_length=1, max_length=200)
    work_seconds: float = Field(
        default=0.05, ge=0, le=MAX_WORK_SECONDS, description="Simulated work time."
    )


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    title: str
    body: str
    created_at: datetime
