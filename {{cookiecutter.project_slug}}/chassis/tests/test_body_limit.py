"""A request body over MAX_REQUEST_BODY_BYTES is a 413 problem, answered before the body is read."""

import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from harness.app import serve
from sample.main import create_app
from sample.settings import Settings

LIMIT = 1024
CHUNK = 512
CHUNKS = 100  # 50 KiB in all, far over the limit


class Upload:
    """A chunked body that counts how many chunks the server pulled."""

    def __init__(self, chunks: int, chunk: bytes = b" " * CHUNK) -> None:
        self.chunks = chunks
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.chunk


def limited_app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"max_request_body_bytes": LIMIT}))


async def post(settings: Settings, content: bytes | Upload, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4()), **headers}
    async with serve(limited_app(settings)) as http:
        return await http.post("/v1/notes", content=content, headers=headers)


def problem_of(response: httpx.Response) -> tuple[int, str, int]:
    return response.status_code, response.headers["content-type"], response.json()["status"]


async def test_declared_length_over_the_limit_is_a_413_problem(settings: Settings) -> None:
    response = await post(settings, b"x" * (LIMIT + 1))
    assert problem_of(response) == (413, "application/problem+json", 413)


async def test_declared_length_over_the_limit_reads_nothing(settings: Settings) -> None:
    upload = Upload(CHUNKS)
    await post(settings, upload, **{"Content-Length": str(CHUNK * CHUNKS)})
    assert upload.pulled == 0


async def test_chunked_body_over_the_limit_is_a_413_problem(settings: Settings) -> None:
    response = await post(settings, Upload(CHUNKS))
    assert problem_of(response) == (413, "application/problem+json", 413)


async def test_chunked_body_over_the_limit_stops_being_read_at_the_limit(
    settings: Settings,
) -> None:
    upload = Upload(CHUNKS)
    await post(settings, upload)
    # Two chunks fill the limit; the third crosses it and is the last one read.
    assert upload.pulled == LIMIT // CHUNK + 1


async def test_chunked_body_under_the_limit_is_accepted(settings: Settings) -> None:
    body = b'{"title": "Chunked", "work_seconds": 0}'
    response = await post(settings, Upload(1, body))
    assert response.status_code == 202


async def test_body_at_the_limit_is_accepted(settings: Settings) -> None:
    body = b'{"title": "At the limit", "work_seconds": 0}'
    response = await post(settings, body.ljust(LIMIT))
    assert response.status_code == 202
