"""Reject answers that would bake a broken project, with one clear line, before anything is written."""

import keyword
import re
import sys

PROJECT_SLUG = "{{ cookiecutter.project_slug }}"
PACKAGE_NAME = "{{ cookiecutter.package_name }}"
AUTHOR_EMAIL = "{{ cookiecutter.author_email }}"

SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Every import line carries the package name; past this the formatter would rewrap them.
MAX_PACKAGE_LENGTH = 30
# Top-level modules the generated project imports or its tools put on sys.path.
TAKEN = {
    "aiosqlite", "alembic", "arq", "asgi_lifespan", "asyncpg", "docker", "fastapi", "httpx",
    "hatchling", "migrations", "msgpack", "mypy", "prometheus_client", "pydantic",
    "pydantic_settings", "pytest", "redis", "ruff", "sqlalchemy", "starlette", "structlog",
    "testcontainers", "tests", "uvicorn",
}  # fmt: skip


def problem() -> str | None:
    if not SLUG.match(PROJECT_SLUG):
        return (
            f"project_slug {PROJECT_SLUG!r} must be lowercase letters and digits in words joined "
            "by single hyphens, starting with a letter (e.g. 'acme-reports')"
        )
    if not PACKAGE_NAME.isidentifier() or not PACKAGE_NAME.isascii():
        return f"package_name {PACKAGE_NAME!r} is not a valid Python identifier"
    if PACKAGE_NAME != PACKAGE_NAME.lower():
        return f"package_name {PACKAGE_NAME!r} must be lowercase (PEP 8)"
    if keyword.iskeyword(PACKAGE_NAME) or keyword.issoftkeyword(PACKAGE_NAME):
        return f"package_name {PACKAGE_NAME!r} is a Python keyword"
    if PACKAGE_NAME in sys.stdlib_module_names or PACKAGE_NAME in {"test", "tests"}:
        return f"package_name {PACKAGE_NAME!r} would shadow the standard library module of that name"
    if PACKAGE_NAME in TAKEN:
        return f"package_name {PACKAGE_NAME!r} would shadow a dependency or tool of the project"
    if len(PACKAGE_NAME) > MAX_PACKAGE_LENGTH:
        return f"package_name {PACKAGE_NAME!r} is longer than {MAX_PACKAGE_LENGTH} characters"
    if not EMAIL.match(AUTHOR_EMAIL):
        return f"author_email {AUTHOR_EMAIL!r} is not an email address"
    return None


if (message := problem()) is not None:
    print(f"ERROR: {message}.", file=sys.stderr)
    sys.exit(1)
