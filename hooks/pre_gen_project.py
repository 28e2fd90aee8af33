"""Reject answers that would bake a broken project: one line naming the answer and the fix.

`problem(answers)` is the whole check, importable and tested directly (tests/test_hooks.py).
It runs twice on a bake: first inside cookiecutter's own process through `local_extensions.py`,
before any folder exists, so a bad answer prints that one line and nothing else; then as this
pre-gen hook, a safety net for tools that bypass the extension (cookiecutter would then add its
own lines around ours).
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Mapping

from slugify import slugify  # python-slugify: a dependency of cookiecutter itself

# Rendered by cookiecutter when this file runs as the hook; inert text when it is imported.
# Jinja's tojson writes every single quote as \u0027, so nothing in it can end this raw string.
RENDERED_ANSWERS = r"""{{ cookiecutter | tojson }}"""

PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
EMAIL = re.compile(r"^[^@\s\"\\]+@[^@\s\"\\]+\.[^@\s\"\\]+$")
# Text answers land inside Python, TOML and YAML strings.
UNSAFE_TEXT = re.compile(r"[\"\\\x00-\x1f\x7f]")
# Every import line carries the package name; past this the formatter would rewrap them.
MAX_PACKAGE_LENGTH = 30
# Top-level names the generated project imports or its tools put on sys.path, and what they are.
TAKEN = {
    **dict.fromkeys(
        [
            "aiosqlite", "alembic", "arq", "asgi_lifespan", "asyncpg", "docker", "fastapi", "httpx",
            "hatchling", "msgpack", "mypy", "prometheus_client", "pydantic", "pydantic_settings",
            "pytest", "redis", "ruff", "sqlalchemy", "starlette", "structlog", "testcontainers",
            "uvicorn",
        ],
        "a dependency or tool of the project",
    ),
    "test": "the standard library module 'test' (Python's own regression tests)",
    "tests": "the project's own tests package",
    "migrations": "the project's own migrations folder",
    "bench": "the project's own benchmarks package",
}  # fmt: skip


def derived_slug(project_name: str) -> str:
    """What cookiecutter.json derives from the name: unicode transliterated, words hyphenated."""
    return slugify(project_name)


def _text_problem(key: str, value: str) -> str | None:
    if UNSAFE_TEXT.search(value):
        return f"{key} {value!r} contains a double quote, backslash or control character: leave them out"
    return None


def _slug_problem(answers: Mapping[str, object]) -> str | None:
    name = str(answers.get("project_name", ""))
    slug = str(answers.get("project_slug", ""))
    if not name.strip():
        return "project_name is blank: give the project a name, e.g. project_name='Billing Hub'"
    typed = slug != derived_slug(name)
    if SLUG.match(slug):
        return None
    if typed:
        return (
            f"project_slug {slug!r} must be lowercase letters and digits in words joined by single "
            "hyphens, starting with a letter: e.g. project_slug='billing-hub'"
        )
    if not slug:
        return (
            f"project_name {name!r} has no letter or digit to make a slug from: add one, "
            "or give project_slug='billing-hub'"
        )
    return (
        f"project_name {name!r} gives the slug {slug!r}, which must start with a letter: "
        "rename the project or give project_slug='billing-hub'"
    )


def _package_problem(package: str, slug: str) -> str | None:
    derived = " (derived from project_slug)" if package == slug.replace("-", "_") else ""
    fix = "give another package_name, e.g. package_name='billing_hub'"
    if not package.isidentifier() or not package.isascii():
        return f"package_name {package!r}{derived} is not a valid Python identifier: {fix}"
    if package != package.lower():
        return f"package_name {package!r} must be lowercase (PEP 8): e.g. package_name={package.lower()!r}"
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return f"package_name {package!r}{derived} is a Python keyword: {fix}"
    if package in TAKEN:
        return f"package_name {package!r}{derived} would shadow {TAKEN[package]}: {fix}"
    if package in sys.stdlib_module_names:
        return (
            f"package_name {package!r}{derived} would shadow the standard library module {package!r}: {fix}"
        )
    if len(package) > MAX_PACKAGE_LENGTH:
        return f"package_name {package!r}{derived} is longer than {MAX_PACKAGE_LENGTH} characters: {fix}"
    return None


def problem(answers: Mapping[str, object]) -> str | None:
    """The first thing wrong with the answers, as one line naming the answer and the fix."""
    for key in ("project_name", "description", "author_name"):
        if found := _text_problem(key, str(answers.get(key, ""))):
            return found
    if found := _slug_problem(answers):
        return found
    if found := _package_problem(str(answers.get("package_name", "")), str(answers.get("project_slug", ""))):
        return found
    version = str(answers.get("python_version", ""))
    if version not in PYTHON_VERSIONS:
        return f"python_version {version!r} is not supported: choose 3.11, 3.12 or 3.13"
    email = str(answers.get("author_email", ""))
    if not EMAIL.match(email):
        return f"author_email {email!r} is not an email address: e.g. author_email='team@example.com'"
    return None


def main(rendered: str = RENDERED_ANSWERS) -> int:
    message = problem(json.loads(rendered))
    if message is None:
        return 0
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
