"""A request that needs a stopped database is a 503 problem naming it, with Retry-After."""

from collections.abc import AsyncIterator

import httpx
import pytest
from chassis.jobs import new_job_id

from harness.app import serve
from harness.private_servers import private_postgres
from sample.main import create_app
from sample.settings import Settings

# Starts a Postgres of its own: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow


@pytest.fixture
async def database_down(settings: Settings) -> AsyncIterator[httpx.Response]:
    """`GET /v1/jobs/<id>` answered by an app whose Postgres was stopped (`pg_ctl stop -m fast`)."""
    with private_postgres() as postgres:
        app = create_app(settings.model_copy(update={"database_url": postgres.url}))
        async with serve(app) as http:
            postgres.stop("fast")
            yield await http.get(f"/v1/jobs/{new_job_id()}")


async def test_database_outage_is_a_503_problem(database_down: httpx.Response) -> None:
    response = database_down
    assert (response.status_code, response.headers["content-type"]) == (
        503,
        "application/problem+json",
    )


async def test_database_outage_names_the_database(database_down: httpx.Response) -> None:
    assert database_down.json()["dependency"] == "database"


async def test_database_outage_asks_to_retry_later(database_down: httpx.Response) -> None:
    assert database_down.headers["retry-after"] == "5"
