"""The generated docs' recipes work as printed: the README's feature with a route, a task, a
setting and a migration, then the cron job, the worker metric and the rate-limit policy that
docs/ adds to it, applied to a fresh default bake from the pages' own code blocks.

Each block's file and how it is applied come from the block or the sentence just before it: a
Python block whose first line is `# path` is that file; "`path`:" writes the file; "Add to
`path`" adds to it (after or before `anchor`, or imports at the top and the rest at the end);
"in `path`" sets the lines with the same name (an assignment's name, an import's module). A code
block with neither fails the test, so the pages and this test cannot drift apart (a formatter
directive around a block is not its sentence). Then the project's own commands run, as the
README says: `make fmt`, `make revision`, `make migrate`, `make lint`, and its tests. No chassis
file may change.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_PACKAGE, DEFAULT_SLUG, Bake, Project
from tests.test_generated_readme import free_port, redis_server

# (page, section): applied in this order, each building on the one before.
RECIPES = [
    ("README.md", "Add a feature"),
    ("docs/cron.md", "A cron job of your own"),
    ("docs/observability.md", "A metric of your own"),
    ("docs/rate-limits-and-idempotency.md", "A rate limit of your own"),
]
FILE_LINE = re.compile(r"^# (?P<path>[\w./-]+\.py)(?::.*)?$")
WRITE = re.compile(r"^`(?P<path>[^`]+)`:$")
ADD = re.compile(
    r"Add to `(?P<path>[^`]+)`(?:, in `[^`]+`, (?P<where>after|before) `(?P<anchor>[^`]+)`)?(?: \(.*\))?:$"
)
SET = re.compile(r"in `(?P<path>[^`]+)`(?: \(.*\))?:$")
BLOCK = re.compile(r"\n```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.DOTALL)
IMPORT = re.compile(r"^(from \S+ )?import ")
WORKER_METRIC = f"{DEFAULT_PACKAGE}_invoices_sent_total"

# Checks of what the recipes promise beyond the feature's own test; not part of the docs.
RECIPE_CHECKS = f"""
import uuid

import httpx
from chassis import jobs
from chassis.jobs.schedules import registered_crons
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {DEFAULT_PACKAGE}.invoices.tasks import count_unsent_invoices
from {DEFAULT_PACKAGE}.settings import Settings


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


def section(page: str, title: str) -> str:
    return page.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def line_key(line: str) -> str:
    """What identifies a line for "in `path`": an import's module, else the name before `=`."""
    if match := re.match(r"(from \S+ import) ", line):
        return match[1]
    return re.split(r"\s*=", line, maxsplit=1)[0]


def apply_block(project: Path, marker: str, code: str) -> None:
    """Apply one code block as its first line or the sentence before it says."""
    first, _, rest = code.partition("\n")
    if match := FILE_LINE.match(first):
        target = project / match["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rest)
        return
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
            at += 1 if match["where"] == "after" else 0
            lines[at:at] = added
        else:
            imports = [line for line in added if IMPORT.match(line)]
            rest_lines = [line for line in added if not IMPORT.match(line)]
            if imports:
                last_import = max(i for i, line in enumerate(lines) if IMPORT.match(line))
                lines[last_import + 1 : last_import + 1] = imports
            while rest_lines and not rest_lines[0].strip():
                rest_lines.pop(0)
            # Two blank lines before what a Python block adds at the end, as the formatter wants.
            lines += ["\n", "\n", *rest_lines] if target.suffix == ".py" else rest_lines
        target.write_text("".join(lines))
    elif match := SET.search(sentence):
        target = project / match["path"]
        lines = target.read_text().splitlines(keepends=True) if target.exists() else []
        for line in code.splitlines(keepends=True):
            if not line.strip():
                continue
            same = [i for i, old in enumerate(lines) if line_key(old) == line_key(line)]
            if same:
                lines[same[0]] = line
            else:
                lines.append(line)
        target.write_text("".join(lines))
    else:
        pytest.fail(f"recipe block with no file named in it or before it: {marker!r}", pytrace=False)


def apply_recipes(project: Path) -> list[str]:
    """Write every code block of every recipe, in order; return their console commands."""
    commands: list[str] = []
    for page, title in RECIPES:
        text = section((project / page).read_text(), title)
        end = 0
        for block in BLOCK.finditer(text):
            # Formatter directives (`<!-- fmt:off -->` around a fragment) are not the sentence.
            before = re.sub(r"<!--.*?-->", "", text[end : block.start()]).strip().split("\n\n")[-1]
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


def chassis_digest(project: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((project / "chassis").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def served_metrics(project: Project, command: str, env: dict[str, str]) -> str:
    """Start `SLUG <command>` as make does, read its /metrics once it answers, stop it."""
    port = env["WEB_PORT"] if command == "web" else env["WORKER_HTTP_PORT"]
    log = project.path / f"{command}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["uv", "run", "--locked", DEFAULT_SLUG, command],
            cwd=project.path,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                        return str(answer.read().decode())
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"{command} served no /metrics:\n{log.read_text()[-4000:]}"
                        ) from None
                    time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=60)


@pytest.mark.slow
def test_docs_recipes_pass_the_projects_checks(bake: Bake) -> None:
    if not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL")):
        pytest.fail("set TEST_DATABASE_URL and TEST_REDIS_URL", pytrace=False)
    project: Project = bake()
    project.sync()
    chassis_before = chassis_digest(project.path)
    commands = apply_recipes(project.path)
    assert commands == [
        'make revision MESSAGE="add invoices"',
        "make migrate",
        "uv run pytest tests/test_invoices.py",
    ]
    # The code as printed is already formatted, and so are the pages' own code blocks (ruff formats
    # Markdown too); only the imports a recipe adds need `make fmt`.
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    (project.path / "tests" / "test_recipe_checks.py").write_text(RECIPE_CHECKS.lstrip())
    project.run("make", "fmt")  # as the cron recipe says, for the imports it adds
    project.run("bash", "-c", commands[0])  # a SQLite database in the project, as in development
    project.run("bash", "-c", commands[1])
    revisions = list((project.path / "migrations" / "versions").glob("*_add_invoices.py"))
    assert len(revisions) == 1 and "create_table" in revisions[0].read_text()

    # ruff, mypy strict and the import contracts: the feature uses only the chassis's public modules.
    project.run("make", "lint")
    project.run("bash", "-c", commands[2])
    project.run("uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/test_recipe_checks.py", "tests/test_features.py", "tests/test_models_match_migrations.py",
                "tests/test_env_example.py", "tests/test_helm_values.py")  # fmt: skip
    assert chassis_digest(project.path) == chassis_before

    with redis_server() as redis_port:
        env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "WEB_PORT": str(free_port()),
               "WORKER_HTTP_PORT": str(free_port())}  # fmt: skip
        web = served_metrics(project, "web", env)
        worker = served_metrics(project, "worker", env)
    assert "chassis_http_requests_total" in web
    assert (WORKER_METRIC in web, f"{WORKER_METRIC} 0.0" in worker) == (False, True)
