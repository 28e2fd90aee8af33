"""The service as `make web` and `make worker` run it: a report is accepted and completed.

One end-to-end run of the app's own command with its shipped features; the chassis's suite runs
the fault tests (outages, crashes, drains, failovers) on a sample service of its own.
"""

import uuid

import httpx
import pytest

from {{ cookiecutter.package_name }}.settings import Settings
from tests.processes import CLI, STARTUP_SECONDS, eventually, free_port, running, service_env

# Starts real processes: `pytest -m "not slow"` leaves it out.
pytestmark = pytest.mark.slow


async def test_a_report_goes_through_web_and_worker(settings: Settings) -> None:
    port = free_port()
    env = service_env(settings, WEB_HOST="127.0.0.1", WEB_PORT=str(port), WORKER_HTTP_PORT="0")
    web, worker = [*CLI, "web"], [*CLI, "worker", "--queue", "default"]
    with running(web, worker, env=env) as processes:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def answering() -> bool:
                if any(process.poll() is not None for process in processes):
                    raise AssertionError("web or worker exited early")
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(answering, "the web tier to be ready", STARTUP_SECONDS)
            accepted = await http.post(
                "/v1/reports",
                json={"title": "Smoke", "work_seconds": 0},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            assert accepted.status_code == 202, accepted.text
            status_url = accepted.json()["status_url"]

            async def complete() -> bool:
                job = (await http.get(status_url)).json()
                return bool(job["status"] == "complete")

            # The worker may still be starting: it answers no probe this test waits on.
            await eventually(complete, "the report job to complete", STARTUP_SECONDS)
            job = (await http.get(status_url)).json()
            report = await http.get(f"/v1/reports/{job['result']['report_id']}")
    assert (report.status_code, report.json()["title"]) == (200, "Smoke")
