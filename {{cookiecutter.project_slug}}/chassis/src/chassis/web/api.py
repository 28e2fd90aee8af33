"""Every router: the chassis's own, then each feature's, in the order the app lists them."""

from chassis.service import Feature, resolve
from chassis.web import health, job_status, metrics
from chassis.web.problems import problem_responses
from chassis.web.rate_limit import rate_limit
from fastapi import APIRouter, Depends

# Probes and metrics stay unlimited: an orchestrator must never be throttled.
rate_limited = [Depends(rate_limit)]
# What the limiter adds to every route it guards: 429, and 503 from a policy that fails closed.
limiter_problems = problem_responses(429, 503)


def api_router(features: list[Feature]) -> APIRouter:
    router = APIRouter()
    router.include_router(health.router)
    router.include_router(metrics.router)
    router.include_router(job_status.router, dependencies=rate_limited, responses=limiter_problems)
    for feature in features:
        if feature.router is None:
            continue
        found = resolve(feature.router)
        if not isinstance(found, APIRouter):
            raise TypeError(f"{feature.router} must be an APIRouter")
        router.include_router(found, dependencies=rate_limited, responses=limiter_problems)
    return router
