"""The app factory: `uvicorn --factory sample.main:create_app`."""

from chassis.settings import Settings
from chassis.web import build_app
from fastapi import FastAPI

from sample.service import SERVICE


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
