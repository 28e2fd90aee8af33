"""Every router: the shared ones here, each feature's `router.py` through `features.py`."""

from fastapi import APIRouter, Depends

from {{ cookiecutter.package_name }} import features
from {{ cookiecutter.package_name }}.web import health, job_status, metrics_router
from {{ cookiecutter.package_name }}.web.problems import problem_responses
from {{ cookiecutter.package_name }}.web.rate_limit import rate_limit

# Probes and metrics stay unlimited: an orchestrator must never be throttled.
rate_limited = [Depends(rate_limit)]
# What the limiter adds to every route it guards: 429, and 503 from a policy that fails closed.
limiter_problems = problem_responses(429, 503)

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(metrics_router.router)
api_router.include_router(job_status.router, dependencies=rate_limited, responses=limiter_problems)
for module in features.parts("router"):
    if not isinstance(module.router, APIRouter):
        raise TypeError(f"{module.__name__}.router must be an APIRouter")
    api_router.include_router(module.router, dependencies=rate_limited, responses=limiter_problems)
