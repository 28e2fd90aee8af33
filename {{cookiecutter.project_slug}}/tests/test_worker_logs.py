import logging

import httpx
import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.worker import run_burst


async def test_each_job_is_logged_by_the_runner_not_twice_by_arq(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.post("/v1/reports", json={"title": "Logged", "work_seconds": 0})
    job_id = response.json()["job_id"]
    await run_burst(settings)

    about_job = [record.name for record in caplog.records if job_id in record.getMessage()]
    assert about_job == ["jobs", "jobs"]
