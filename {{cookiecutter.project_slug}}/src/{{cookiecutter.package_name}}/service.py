"""The service as the chassis sees it: its name, its settings and its features."""

from chassis.service import Service

from {{ cookiecutter.package_name }}.settings import Settings

# The features and the app factory are named, not imported: each process loads what it serves
# (the worker never loads the web tier, whose metrics would land on its /metrics).
SERVICE = Service(
    name="{{ cookiecutter.project_slug }}",
    title="{{ cookiecutter.project_name }}",
    description="A FastAPI service with a separate job worker, on Postgres and Redis.",
    settings=Settings,
    features="{{ cookiecutter.package_name }}.features:FEATURES",
    app="{{ cookiecutter.package_name }}.main:create_app",
    cli="{{ cookiecutter.package_name }}.cli",
)
