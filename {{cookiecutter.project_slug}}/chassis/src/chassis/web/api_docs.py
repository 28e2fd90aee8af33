"""The OpenAPI document, and the pages that show it: `/openapi.json`, `/docs`, `/redoc`.

The document is FastAPI's, made to tell the truth about errors: every problem a route lists with
`problems.problem_responses` is `application/problem+json`, FastAPI's own 422 schema (which is not
what the service sends) becomes ours, and the problems no route needs to list are added: 400 (not
JSON) and 413 (too large) wherever a body is read, 500 everywhere.

The pages load Swagger UI and ReDoc from the app itself (the assets ship in the `fastapi-offline`
package), never from a CDN: they work offline and behind a strict egress policy. `API_DOCS` turns
all three off, so they answer 404 like any unknown path.
"""

import json
from functools import partial
from typing import Any

from chassis.web.problems import (
    Problem,
    ValidationProblem,
    problem_responses,
)
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema

OPENAPI_URL = "/openapi.json"
SWAGGER_UI_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
# FastAPI's schemas for its own 422 body, which `problems._validation_error` replaces.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_api_docs(app: FastAPI, *, served: bool) -> None:
    """Make `app.openapi()` ours; when `served`, answer at the document's and the pages' URLs."""
    app.openapi = partial(openapi_document, app)  # type: ignore[method-assign]  # FastAPI's hook
    if not served:
        return
    assets = StaticFiles(packages=[("fastapi_offline", "static")])

    # A route rather than a mount, so that the HTTP metrics count the assets under one route.
    @app.get(ASSETS_URL + "/{path:path}", include_in_schema=False)
    async def asset(request: Request, path: str) -> Response:
        return await assets.get_response(path, request.scope)

    @app.get(OPENAPI_URL, include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(SWAGGER_UI_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document (which it caches until the routes change), its errors made ours.

    Editing it again is harmless: every step leaves an edited document as it is.
    """
    document = FastAPI.openapi(app)
    _, problem_schemas = models_json_schema(
        [(Problem, "serialization"), (ValidationProblem, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas["$defs"])
    ours = problem_responses(400, 413, 422, 500)
    for operation in _operations(document):
        responses = operation["responses"]
        if _is_fastapi_validation_error(responses.get("422")):
            responses["422"] = ours[422]
        if "requestBody" in operation:
            responses.setdefault("400", ours[400])
            responses.setdefault("413", ours[413])
        responses.setdefault("500", ours[500])
    # Dropped once nothing refers to them (a route may still declare a 422 of its own with them).
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name, None)
    return document


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for path in document.get("paths", {}).values()
        for operation in path.values()
        if isinstance(operation, dict) and "responses" in operation
    ]


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    content = (response or {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return bool(schema == {"$ref": "#/components/schemas/HTTPValidationError"})
