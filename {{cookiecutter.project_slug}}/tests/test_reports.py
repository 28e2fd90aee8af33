import uuid
from typing import Any

import httpx
from chassis.jobs import run_burst
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.settings import Settings


async def submit_report(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(
        "/v1/reports",
        json={"title": "Weekly", "work_seconds": 0, **body},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


async def test_post_report_answers_202_with_location(client: httpx.AsyncClient) -> None:
    response = await submit_report(client)
    body = response.json()
    assert (response.status_code, body["status"]) == (202, "queued")
    assert response.headers["location"] == body["status_url"] == f"/v1/jobs/{body['job_id']}"


async def test_report_job_completes_through_real_worker(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    job_id = (await submit_report(client, title="Quarterly")).json()["job_id"]

    await run_burst(settings)

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["status"], job["task"], job["attempts"]) == ("complete", "generate_report", 1)
    report = (await client.get(f"/v1/reports/{job['result']['report_id']}")).json()
    assert report["title"] == "Quarterly"


async def test_status_survives_arq_result_expiry(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    job_id = (await submit_report(client)).json()["job_id"]
    await run_burst(settings)
    before = (await client.get(f"/v1/jobs/{job_id}")).json()

    # What arq's keep_result expiry does: the job vanishes from Redis entirely.
    assert await redis.delete(f"arq:result:{job_id}") == 1
    after = (await client.get(f"/v1/jobs/{job_id}")).json()

    assert after == before


async def test_queued_job_status_comes_from_redis(client: httpx.AsyncClient) -> None:
    job_id = (await submit_report(client)).json()["job_id"]
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["status"], job["attempts"], job["started_at"]) == ("queued", 0, None)


async def test_request_id_travels_into_job_history(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    from chassis.core.db import create_engine, create_session_factory
    from chassis.jobs import history

    response = await client.post(
        "/v1/reports",
        json={"title": "Traced", "work_seconds": 0},
        headers={"X-Request-ID": "req-42", "Idempotency-Key": str(uuid.uuid4())},
    )
    await run_burst(settings)

    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        record = await history.get(session, response.json()["job_id"])
    await engine.dispose()
    assert record is not None
    assert (response.headers["x-request-id"], record.request_id) == ("req-42", "req-42")
