import logging
import uuid

import httpx
import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs import run_burst


async def test_each_job_is_logged_once_by_the_runner_not_by_arq(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.post(
        "/v1/reports",
        json={"title": "Logged", "work_seconds": 0},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    job_id = response.json()["job_id"]
    await run_burst(settings)

    # The web tier's audit line names the job too; what matters here is who logs the run.
    about_run = [
        record.name
        for record in caplog.records
        if job_id in record.getMessage() and record.name in {"jobs", "arq.worker"}
    ]
    assert about_run == ["jobs"]
