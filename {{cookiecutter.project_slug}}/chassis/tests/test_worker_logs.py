import logging
import uuid

import httpx
import pytest
import structlog
from chassis.jobs import run_burst
from structlog.testing import capture_logs

from sample.settings import Settings


async def test_each_job_is_logged_once_by_the_runner_not_by_arq(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.post(
        "/v1/notes",
        json={"title": "Logged", "work_seconds": 0},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    job_id = response.json()["job_id"]
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as ours:
        await run_burst(settings)

    by_runner = [line["event"] for line in ours if line.get("job_id") == job_id]
    by_arq = [record for record in caplog.records if record.name.startswith("arq")]
    about_run = [record.getMessage() for record in by_arq if job_id in record.getMessage()]
    assert (by_runner, about_run) == (["job_complete"], [])
