"""Every feature router, in one place."""

from fastapi import APIRouter, Depends

from {{ cookiecutter.package_name }}.core import health, metrics_router
from {{ cookiecutter.package_name }}.core.rate_limit import rate_limit
from {{ cookiecutter.package_name }}.jobs import router as jobs_router
from {{ cookiecutter.package_name }}.reports import router as reports_router

# Probes and metrics stay unlimited: an orchestrator must never be throttled.
rate_limited = [Depends(rate_limit)]

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(metrics_router.router)
api_router.include_router(jobs_router.router, dependencies=rate_limited)
api_router.include_router(reports_router.router, dependencies=rate_limited)
