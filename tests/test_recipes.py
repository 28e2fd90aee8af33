"""The generated README's recipes work as printed: a feature with a route and a task, a cron job, a
metric and a rate-limit policy, applied to a fresh default bake from the README's own code blocks.

Each block's file and how it is applied come from the sentence just before it: "`path`:" writes
the file, "Add to `path`" adds to it (after `anchor`, or imports at the top and the rest at the
end), "in `path`" sets the line with the same name. A code block with no such sentence fails the
test, so the README and this test cannot drift apart. Then the project's own commands run, as the
README says: `make fmt`, `make revision`, `make migrate`, `make lint`, and its tests.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_PACKAGE, Bake, Project

WRITE = re.compile(r"^`(?P<path>[^`]+)`:$")
ADD = re.compile(r"Add to `(?P<path>[^`]+)`(?:, in `[^`]+`, after `(?P<anchor>[^`]+)`)?(?: \(.*\))?:$")
SET = re.compile(r"in `(?P<path>[^`]+)`(?: \(.*\))?:$")
BLOCK = re.compile(r"\n```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.DOTALL)
IMPORT = re.compile(r"^(from \S+ )?import ")

WORKER_METRIC = f"{DEFAULT_PACKAGE}_invoices_sent_total"

# Checks of what the recipes promise beyond the feature's own test; not part of the README.
RECIPE_CHECKS = f"""
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {DEFAULT_PACKAGE} import jobs
from {DEFAULT_PACKAGE}.config import Settings
from {DEFAULT_PACKAGE}.invoices.tasks import count_unsent_invoices
from {DEFAULT_PACKAGE}.jobs.cron import registered_crons


async def test_invoice_route_has_its_own_policy(client: httpx.AsyncClient) -> None:
    key = {{"Idempotency-Key": str(uuid.uuid4())}}
    response = await client.post("/v1/invoices", json={{"customer": "Globex"}}, headers=key)
    assert response.headers["ratelimit-policy"] == '"invoices-create";q=10;w=60'


def test_reminder_is_scheduled_on_the_scheduled_queue(settings: Settings) -> None:
    crons = {{entry.task.name: entry for entry in registered_crons()}}
    reminder = crons["count_unsent_invoices"]
    assert (reminder.task.queue, reminder.schedule(settings)) == ("scheduled", "0 9 * * mon-fri")


async def test_reminder_runs_on_the_scheduled_worker(
    client: httpx.AsyncClient,
    settings: Settings,
    queue: jobs.Queue,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    key = {{"Idempotency-Key": str(uuid.uuid4())}}
    await client.post("/v1/invoices", json={{"customer": str(uuid.uuid4())}}, headers=key)
    message = count_unsent_invoices.message(scheduled_at="2026-01-05T09:00:00+00:00")
    async with sessions() as session:
        submitted = await jobs.submit(session, queue, message, request_id=None)
    await jobs.run_burst(settings, "scheduled")
    job = (await client.get(f"/v1/jobs/{{submitted.job_id}}")).json()
    assert (job["status"], job["result"]["unsent"] >= 1) == ("complete", True)
"""

# What /metrics serves on each tier, less the queue gauges the web computes per scrape.
WEB_METRICS = f"""
from {DEFAULT_PACKAGE}.web import exposition
from {DEFAULT_PACKAGE}.main import create_app
create_app()
print(exposition.render().decode())
"""
WORKER_METRICS = f"""
from {DEFAULT_PACKAGE} import tasks
from {DEFAULT_PACKAGE}.web import exposition
print(exposition.render().decode())
"""


def recipes_section(readme: str) -> str:
    return readme.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]


def apply_block(project: Path, marker: str, code: str) -> None:
    """Apply one code block as the sentence before it says."""
    sentence = re.split(r"(?<=\.) ", marker)[-1]
    if match := WRITE.match(sentence):
        target = project / match["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    elif match := ADD.search(sentence):
        target = project / match["path"]
        lines = target.read_text().splitlines(keepends=True)
        added = code.splitlines(keepends=True)
        if match["anchor"]:
            at = next(i for i, line in enumerate(lines) if line.strip().startswith(match["anchor"]))
            lines[at + 1 : at + 1] = added
        else:
            imports = [line for line in added if IMPORT.match(line)]
            rest = [line for line in added if not IMPORT.match(line)]
            if imports:
                last_import = max(i for i, line in enumerate(lines) if IMPORT.match(line))
                lines[last_import + 1 : last_import + 1] = imports
                rest = ["\n", *rest]
            lines += rest
        target.write_text("".join(lines))
    elif match := SET.search(sentence):
        target = project / match["path"]
        lines = target.read_text().splitlines(keepends=True) if target.exists() else []
        for line in code.splitlines(keepends=True):
            name = re.split(r"\s*=", line, maxsplit=1)[0]
            same = [i for i, old in enumerate(lines) if re.match(rf"{re.escape(name)}\s*=", old)]
            if same:
                lines[same[0]] = line
            else:
                lines.append(line)
        target.write_text("".join(lines))
    else:
        pytest.fail(f"README recipe block with no file named before it: {marker!r}", pytrace=False)


def apply_recipes(project: Path) -> list[str]:
    """Write every code block of the Recipes section; return its console commands."""
    section = recipes_section((project / "README.md").read_text())
    commands: list[str] = []
    end = 0
    for block in BLOCK.finditer(section):
        before = section[end : block.start()].strip().split("\n\n")[-1]
        end = block.end()
        if block["lang"] == "console":
            commands += [
                line[2:].split("  #")[0].strip()
                for line in block["code"].splitlines()
                if line.startswith("$ ")
            ]
        else:
            apply_block(project, " ".join(before.split()), block["code"])
    return commands


@pytest.mark.slow
def test_readme_recipes_pass_the_projects_checks(bake: Bake) -> None:
    if not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL")):
        pytest.fail("set TEST_DATABASE_URL and TEST_REDIS_URL", pytrace=False)
    project: Project = bake()
    project.sync()
    commands = apply_recipes(project.path)
    assert commands == [
        'make revision MESSAGE="add invoices"',
        "make migrate",
        "uv run pytest tests/test_invoices.py",
    ]
    (project.path / "tests" / "test_recipe_checks.py").write_text(RECIPE_CHECKS.lstrip())
    project.run("make", "fmt")  # as the cron recipe says, for the imports it adds
    project.run("bash", "-c", commands[0])  # a SQLite database in the project, as in development
    project.run("bash", "-c", commands[1])
    revisions = list((project.path / "migrations" / "versions").glob("*_add_invoices.py"))
    assert len(revisions) == 1 and "create_table" in revisions[0].read_text()

    project.run("uv", "run", "--locked", "ruff", "check", ".")
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    # The recipes touch src, tests and migrations; bench/ has checks of its own elsewhere.
    project.run("uv", "run", "--locked", "mypy", "src", "tests", "migrations")
    project.run("uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/test_invoices.py", "tests/test_recipe_checks.py", "tests/test_features.py",
                "tests/test_models_match_migrations.py", "tests/test_env_example.py")  # fmt: skip

    web = project.run("uv", "run", "--locked", "python", "-c", WEB_METRICS).stdout
    worker = project.run("uv", "run", "--locked", "python", "-c", WORKER_METRICS).stdout
    assert f"{DEFAULT_PACKAGE}_http_requests_total" in web
    assert (WORKER_METRIC in web, f"{WORKER_METRIC} 0.0" in worker) == (False, True)
