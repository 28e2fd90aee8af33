import uuid

import httpx
import pytest
from fastapi import FastAPI


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "x", "work_seconds": "soon"}, 422),
        # Strict, as the OpenAPI schema reads: neither is a number.
        ({"title": "x", "work_seconds": False}, 422),
        ({"title": "x", "work_seconds": "1"}, 422),
        ({"title": "x", "work_seconds": 16}, 422),
        ({"title": "x", "work_seconds": -1}, 422),
        ({"title": ""}, 422),
        ({"work_seconds": 1}, 422),
        ({"title": "x", "surprise": True}, 422),
    ],
)
async def test_invalid_body_is_a_problem(
    client: httpx.AsyncClient, body: dict[str, object], status: int
) -> None:
    response = await client.post("/v1/notes", json=body, headers=new_key())
    assert (response.status_code, response.headers["content-type"]) == (
        status,
        "application/problem+json",
    )


async def test_malformed_json_is_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/notes",
        content=b'{"title": ',
        headers={"content-type": "application/json", **new_key()},
    )
    assert (response.status_code, response.json()["title"]) == (400, "Bad Request")


async def test_validation_problem_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/notes", json={"title": "x", "work_seconds": 99}, headers=new_key()
    )
    assert response.json()["errors"][0]["loc"] == ["body", "work_seconds"]


async def test_unknown_job_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs/does-not-exist")
    assert (response.status_code, response.headers["content-type"]) == (
        404,
        "application/problem+json",
    )


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
    }


async def test_unexpected_error_is_500_problem_without_traceback(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] == "boom-1"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 32


async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
