"""Input Postgres cannot store never reaches it: ids in paths and strings in bodies get a 4xx."""

import uuid

import httpx
import pytest
from chassis.jobs import JobRecord
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sample.settings import Settings

PROBLEM_JSON = "application/problem+json"
# NUL, NUL inside a plausible id, and one character over the 64 of a job id.
BAD_IDS = ["%00", "0123456789abcdef%000123456789abcde", "f" * 65]


async def post_title(client: httpx.AsyncClient, raw_title: str) -> httpx.Response:
    """POST a note whose title is `raw_title` as written in JSON (escapes kept as sent)."""
    return await client.post(
        "/v1/notes",
        content=('{"title": "' + raw_title + '", "work_seconds": 0}').encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
    )


async def job_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(JobRecord))).scalar_one()


@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/notes"])
@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_id_no_resource_can_have_is_a_404_problem(
    client: httpx.AsyncClient, route: str, bad_id: str
) -> None:
    response = await client.get(f"{route}/{bad_id}")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM_JSON)


async def test_well_formed_cron_job_id_is_looked_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs/cron:send_digest:1767254400000")
    assert response.json()["detail"] == "No job with id 'cron:send_digest:1767254400000'."


@pytest.mark.parametrize("raw_title", ["a\\u0000b", "\\ud800", "x\\udfffy"])
async def test_title_postgres_cannot_store_is_a_422_problem(
    client: httpx.AsyncClient, raw_title: str
) -> None:
    response = await post_title(client, raw_title)
    where = response.json()["errors"][0]["loc"]
    assert (response.status_code, response.headers["content-type"], where) == (
        422,
        PROBLEM_JSON,
        ["body", "title"],
    )


async def test_title_with_nul_enqueues_nothing(
    client: httpx.AsyncClient,
    settings: Settings,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rows_before = await job_rows(sessions)
    await post_title(client, "a\\u0000b")
    queued = await redis.zcard(settings.queue_key("default"))
    assert (queued, await job_rows(sessions) - rows_before) == (0, 0)


async def test_title_with_a_surrogate_pair_is_accepted(client: httpx.AsyncClient) -> None:
    # An escaped pair is one real character (U+1F600): only lone halves are refused.
    response = await post_title(client, "smile \\ud83d\\ude00")
    assert response.status_code == 202
