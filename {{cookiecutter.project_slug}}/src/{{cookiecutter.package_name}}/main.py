"""The app factory: `uvicorn --factory {{ cookiecutter.package_name }}.main:create_app`."""

from chassis.settings import Settings
from chassis.web import build_app
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.service import SERVICE


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
