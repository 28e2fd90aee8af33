"""Postgres work per job of our worker, counted by the server itself, amortised over a burst.

The worker runs a full queue of jobs to the end (as in the throughput benchmark) against a
database whose server counts statements with pg_stat_statements: the configured server when it
already loads the extension, else a private server started for this. The statements on
`job_history` are the claim and the outcome (the target: at most 2 per job); every other
statement (BEGIN, COMMIT, pool pings, start-up queries) is shown next to it. `pg_stat_database`
adds the transactions committed and the rows written. Without pg_stat_statements, only those two
are printed, labelled as what they are.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, replace

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bench import progress, tasks, workers
from bench.context import BenchContext
from bench.private_postgres import private_postgres
from bench.report import Rendered, Table, Target
from bench.services import ServiceError, admin_dsn, plain_dsn, scratch_database

HISTORY_TABLE = "job_history"
STATEMENTS_TARGET = 2
TOP_STATEMENTS = 8
LABELS = {tasks.NOOP: "no-op", tasks.SLEEP: "25 ms sleep"}


@dataclass(frozen=True)
class Source:
    """A migrated database to count on, and whether its server counts statements."""

    database_url: str
    statements: bool
    description: str


@dataclass(frozen=True)
class DatabaseCounters:
    commits: int
    rollbacks: int
    inserted: int
    updated: int

    def __sub__(self, other: "DatabaseCounters") -> "DatabaseCounters":
        return DatabaseCounters(
            self.commits - other.commits,
            self.rollbacks - other.rollbacks,
            self.inserted - other.inserted,
            self.updated - other.updated,
        )


@dataclass(frozen=True)
class Counts:
    jobs: int
    database: DatabaseCounters
    # (calls, query text) per statement; empty without pg_stat_statements.
    statements: list[tuple[int, str]]

    def per_job(self, value: int) -> float:
        return value / self.jobs

    @property
    def history_calls(self) -> int:
        return sum(calls for calls, query in self.statements if HISTORY_TABLE in query)

    @property
    def all_calls(self) -> int:
        return sum(calls for calls, _ in self.statements)


async def _fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def _preloaded(database_url: str) -> bool:
    rows = await _fetch(plain_dsn(database_url), "SHOW shared_preload_libraries")
    return "pg_stat_statements" in str(rows[0][0])


async def _create_extension(database_url: str) -> None:
    await _fetch(plain_dsn(database_url), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


@asynccontextmanager
async def counted_database(ctx: BenchContext) -> AsyncIterator[Source]:
    """The configured scratch database if its server loads pg_stat_statements, else a private
    server's, else the configured one with the database counters only."""
    if await _preloaded(ctx.database_url):
        await _create_extension(ctx.database_url)
        yield Source(ctx.database_url, True, "the configured server (pg_stat_statements loaded)")
        return
    stack = ExitStack()
    try:
        try:
            progress("statements: starting a private PostgreSQL with pg_stat_statements")
            server = await asyncio.to_thread(stack.enter_context, private_postgres(ctx.workdir))
            url = await asyncio.to_thread(
                stack.enter_context, scratch_database(server.url, ctx.workdir)
            )
            await _create_extension(url)
            source = Source(url, True, f"a private PostgreSQL {server.version} started for this")
        except ServiceError as exc:
            why = f"pg_stat_statements unavailable ({exc})"
            source = Source(ctx.database_url, False, f"the configured server; {why}")
        yield source
    finally:
        await asyncio.to_thread(stack.close)


async def _quiet(database_url: str) -> None:
    """Until no other session is connected to the database: their counters are then flushed."""
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    for _ in range(100):
        if (await _fetch(plain_dsn(database_url), query))[0][0] == 0:
            break
        await asyncio.sleep(0.1)
    # A backend's statistics reach the shared counters as it exits; give the last one a moment.
    await asyncio.sleep(0.5)


async def _database_counters(database_url: str) -> DatabaseCounters:
    """Read from the maintenance database, so the reading itself is not counted."""
    rows = await _fetch(
        admin_dsn(database_url),
        "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated "
        "FROM pg_stat_database WHERE datname = $1",
        make_url(database_url).database,
    )
    return DatabaseCounters(*(int(value) for value in rows[0]))


async def _statements(database_url: str) -> list[tuple[int, str]]:
    rows = await _fetch(
        plain_dsn(database_url),
        "SELECT calls, query FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query NOT ILIKE '%pg_stat%' ORDER BY calls DESC",
    )
    return [(int(calls), str(query)) for calls, query in rows]


async def count(ctx: BenchContext, redis: Redis, source: Source, task: str) -> Counts:
    """One burst of our worker on the source's database, with the server's counters around it."""
    max_jobs, poll_delay = workers.OUR_MAX_JOBS, workers.OUR_POLL_DELAY
    if source.statements:
        await _fetch(
            plain_dsn(source.database_url),
            "SELECT pg_stat_statements_reset(0, "
            "(SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
        )
    await _quiet(source.database_url)
    before = await _database_counters(source.database_url)
    on_source = replace(ctx, database_url=source.database_url)
    run = await workers.throughput(on_source, redis, workers.OURS, task, max_jobs, poll_delay)
    await _quiet(source.database_url)
    database = await _database_counters(source.database_url) - before
    statements = await _statements(source.database_url) if source.statements else []
    return Counts(jobs=run.jobs, database=database, statements=statements)


def kind(query: str) -> str:
    """A statement's verb and table, so a batch's texts of every size count as one kind."""
    words = query.split()
    upper = [word.upper() for word in words]
    verb = upper[0] if words else ""
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    marker = {"INSERT": "INTO", "DELETE": "FROM", "SELECT": "FROM"}.get(verb)
    if marker in upper[:-1]:
        table = words[upper.index(marker) + 1]
        return f"INSERT INTO {table}" if verb == "INSERT" else f"{verb} ... FROM {table}"
    return " ".join(words)[:60]


def by_kind(statements: list[tuple[int, str]]) -> list[tuple[str, tuple[int, int]]]:
    """(kind, (distinct texts, calls)), the most called kinds first."""
    kinds: dict[str, tuple[int, int]] = {}
    for calls, query in statements:
        texts, total = kinds.get(kind(query), (0, 0))
        kinds[kind(query)] = (texts + 1, total + calls)
    return sorted(kinds.items(), key=lambda item: item[1][1], reverse=True)


def render(source: Source, counts: dict[str, Counts]) -> Rendered:
    table = Table(
        f"Postgres work per job of our worker (a full queue run to the end, max_jobs="
        f"{workers.OUR_MAX_JOBS}), counted by the server: {source.description}",
        ("per job", *(f"{LABELS[task]} ({c.jobs} jobs)" for task, c in counts.items())),
    )

    def row(label: str, values: list[float]) -> None:
        table.add(label, *(f"{value:.2f}" for value in values))

    if source.statements:
        row(
            f"statements on {HISTORY_TABLE} (claim + outcome), pg_stat_statements",
            [c.per_job(c.history_calls) for c in counts.values()],
        )
        row(
            "all statements (incl. BEGIN, COMMIT, pings), pg_stat_statements",
            [c.per_job(c.all_calls) for c in counts.values()],
        )
    row(
        "transactions committed, pg_stat_database",
        [c.per_job(c.database.commits) for c in counts.values()],
    )
    row(
        "transactions rolled back, pg_stat_database",
        [c.per_job(c.database.rollbacks) for c in counts.values()],
    )
    row(
        "rows inserted, pg_stat_database", [c.per_job(c.database.inserted) for c in counts.values()]
    )
    row("rows updated, pg_stat_database", [c.per_job(c.database.updated) for c in counts.values()])
    sections = [table.render()]
    last = next(reversed(counts.values()))
    if last.statements:
        top = Table(
            f"Statements by kind, {LABELS[next(reversed(counts))]} run",
            ("statement", "texts", "calls per job"),
        )
        for name, (texts, calls) in by_kind(last.statements)[:TOP_STATEMENTS]:
            top.add(name, texts, f"{last.per_job(calls):.2f}")
        top.notes.append(
            "texts: distinct statements of that kind (a multi-row INSERT is one per row count)"
        )
        sections.append(top.render())
    targets = [
        Target(
            f"Postgres statements on {HISTORY_TABLE} per job (claim + outcome), {LABELS[task]}",
            c.per_job(c.history_calls) if source.statements else None,
            STATEMENTS_TARGET,
            at_most=True,
            note="" if source.statements else source.description,
        )
        for task, c in counts.items()
    ]
    return sections, targets


async def measure(ctx: BenchContext) -> Rendered:
    redis = Redis.from_url(ctx.redis.url)
    try:
        async with counted_database(ctx) as source:
            counts = {}
            for task in (tasks.NOOP, tasks.SLEEP):
                progress(f"statements: our worker, {LABELS[task]} jobs, on {source.description}")
                counts[task] = await count(ctx, redis, source, task)
    finally:
        await redis.aclose()
    return render(source, counts)
