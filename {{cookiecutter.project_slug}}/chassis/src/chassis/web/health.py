"""Liveness and readiness probes for the web tier."""

import asyncio
from http import HTTPStatus
from typing import Literal

from chassis.web.dependencies import ResourcesDep
from chassis.web.problems import problem, problem_responses, retry_later
from chassis.web.resources import Resources
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

router = APIRouter(tags=["health"])

# A probe must answer before the orchestrator's own timeout (1 s by default in Kubernetes).
CHECK_TIMEOUT_SECONDS = 0.8


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process and its event loop answer. No dependency is checked."""
    return {"status": "ok"}


CheckState = Literal["ok", "unavailable"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, CheckState]


@router.get(
    "/readyz",
    response_model=None,
    responses={200: {"model": Readiness}, **problem_responses(503)},
)
async def readyz(resources: ResourcesDep) -> dict[str, object] | JSONResponse:
    """Readiness: Redis and the database answer, else 503 naming the one that failed."""
    redis_ok, db_ok = await asyncio.gather(_redis_ok(resources), _database_ok(resources))
    checks = {"redis": _word(redis_ok), "database": _word(db_ok)}
    if redis_ok and db_ok:
        return {"status": "ready", "checks": checks}
    failed = [name for name, state in checks.items() if state != "ok"]
    return problem(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"Not ready: {', '.join(failed)} unavailable.",
        headers=retry_later(),
        checks=checks,
    )


def _word(ok: bool) -> CheckState:
    return "ok" if ok else "unavailable"


async def _redis_ok(resources: Resources) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return bool(await resources.redis.ping())
    except Exception:  # any failure, of any kind, means "not ready"
        return False


async def _database_ok(resources: Resources) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with resources.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure, of any kind, means "not ready"
        return False
