"""The OpenAPI document and its pages: problems documented as sent, assets served by the app itself,
and nothing served where API_DOCS is off (production's default)."""

import json
import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from chassis.settings import Environment
from chassis.web.problems import PROBLEM_JSON
from fastapi import FastAPI
from pydantic import BaseModel

from harness.app import serve
from sample.main import create_app
from sample.settings import Settings

DOCUMENT_AND_PAGES = ["/openapi.json", "/docs", "/redoc"]


class _Links(HTMLParser):
    """Every URL a page loads or links to: `src` and `href` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def error_responses(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path} {status}": response
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    }


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_only_same_origin_urls(client: httpx.AsyncClient, page: str) -> None:
    html = (await client.get(page)).text
    urls = links(html)
    foreign = [url for url in urls if not url.startswith("/") or url.startswith("//")]
    assert (len(urls) >= 2, foreign, "http" in html.replace("http-equiv", "")) == (True, [], False)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_assets_are_served(client: httpx.AsyncClient, page: str) -> None:
    urls = links((await client.get(page)).text)
    answers = {url: (await client.get(url)).status_code for url in urls}
    assert answers == dict.fromkeys(urls, 200)


@pytest.mark.parametrize("name", ["%00", "a%00b.js", "..%2f..%2fconfig.py", "x" * 5000, ""])
async def test_asset_no_file_has_is_a_404_problem(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/docs/assets/{name}")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM_JSON)


async def test_swagger_ui_script_is_served_as_javascript(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert (response.headers["content-type"].split(";")[0], len(response.content) > 100_000) == (
        "text/javascript",
        True,
    )


async def test_openapi_json_is_served_outside_production(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert (response.status_code, response.json()["info"]["version"]) == (200, "0.1.0")


@pytest.mark.parametrize("url", [*DOCUMENT_AND_PAGES, "/docs/assets/swagger-ui-bundle.js"])
async def test_docs_are_off_in_production_by_default(settings: Settings, url: str) -> None:
    # model_copy skips validation: production's refusals of test URLs are not the point here.
    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    async with serve(create_app(production)) as http:
        response = await http.get(url)
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM_JSON)


async def test_api_docs_true_serves_them_in_production(settings: Settings) -> None:
    production = settings.model_copy(
        update={"environment": Environment.PRODUCTION, "api_docs": True}
    )
    async with serve(create_app(production)) as http:
        statuses = [(await http.get(url)).status_code for url in DOCUMENT_AND_PAGES]
    assert statuses == [200, 200, 200]


async def test_api_docs_false_turns_them_off_in_development(settings: Settings) -> None:
    development = settings.model_copy(
        update={"environment": Environment.DEVELOPMENT, "api_docs": False}
    )
    async with serve(create_app(development)) as http:
        statuses = [(await http.get(url)).status_code for url in DOCUMENT_AND_PAGES]
    assert statuses == [404, 404, 404]


@pytest.mark.parametrize(
    ("environment", "api_docs", "served"),
    [
        (Environment.DEVELOPMENT, None, True),
        (Environment.TEST, None, True),
        (Environment.PRODUCTION, None, False),
        (Environment.PRODUCTION, True, True),
        (Environment.DEVELOPMENT, False, False),
    ],
)
def test_api_docs_setting_defaults_by_environment(
    environment: Environment, api_docs: bool | None, served: bool
) -> None:
    settings = Settings.model_construct(environment=environment, api_docs=api_docs)
    assert settings.api_docs_served is served


def test_every_error_response_is_documented_as_problem_json(app: FastAPI) -> None:
    responses = error_responses(app.openapi())
    not_problems = [
        key for key, response in responses.items() if [*response["content"]] != [PROBLEM_JSON]
    ]
    assert (len(responses) > 10, not_problems) == (True, [])


def test_fastapi_validation_schema_is_replaced_on_every_route(app: FastAPI) -> None:
    # A route that lists no problems of its own still documents the 422 the service sends.
    @app.get("/items/{number}")
    async def item(number: int) -> dict[str, int]:
        return {"number": number}

    document = app.openapi()
    schema = document["paths"]["/items/{number}"]["get"]["responses"]["422"]["content"]
    assert (schema, "HTTPValidationError" in json.dumps(document)) == (
        {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}},
        False,
    )


def test_a_route_that_lists_no_problems_still_documents_the_common_ones(app: FastAPI) -> None:
    class Thing(BaseModel):
        name: str

    @app.post("/things")
    async def make(thing: Thing) -> Thing:
        return thing

    responses = app.openapi()["paths"]["/things"]["post"]["responses"]
    assert sorted(responses) == ["200", "400", "413", "422", "500"]


async def test_validation_problem_matches_its_documented_fields(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    schemas = app.openapi()["components"]["schemas"]
    response = await client.post(
        "/v1/notes", json={"title": ""}, headers={"Idempotency-Key": "docs-test-1"}
    )
    body = response.json()
    documented = set(schemas["Problem"]["properties"]) | {"errors"}
    assert (response.status_code, set(body) <= documented, set(body["errors"][0])) == (
        422,
        True,
        set(schemas["FieldError"]["properties"]),
    )


async def test_the_accepted_answer_documents_every_header_it_sends(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A first answer and its replay, less the headers of any HTTP response."""
    documented = app.openapi()["paths"]["/v1/notes"]["post"]["responses"]["202"]["headers"]
    body = {"title": "Documented", "work_seconds": 0}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = [await client.post("/v1/notes", json=body, headers=key) for _ in range(2)]
    sent = {name for answer in answers for name in answer.headers}
    assert ([a.status_code for a in answers], sent - {"content-length", "content-type"}) == (
        [202, 202],
        {name.lower() for name in documented},
    )
