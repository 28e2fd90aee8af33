"""The group commits on Postgres: one fixed statement over arrays per group, one round trip.

Through SQLAlchemy a multi-row upsert cost a compile per group size, a pool checkout with its
pre-ping, and BEGIN/COMMIT round trips: milliseconds of Python per commit, which capped the worker
and the accept path (`make bench`). Here a group is one SQL text whatever its size (`unnest` over
array parameters), prepared once, run as its own transaction on the writer's connection
(`core.db.connect_asyncpg`, with the engine's connect settings). With DATABASE_PGBOUNCER there is
no statement cache: each commit describes it (one more round trip), then parses it again alongside
its execution, so nothing outlives the server connection PgBouncer's transaction mode lends.
"""

import json
from collections.abc import Sequence
from typing import Any

import asyncpg
from chassis.jobs.models import JobStatus

# attempts, status, result, error of a claimed job
ClaimedRow = tuple[int, str, Any, str | None]

# The accept path's rows: the new ones are inserted, and for a job id that has a row already,
# that row's status comes back instead.
_QUEUED = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::timestamptz[])
        AS u(job_id, task, status, kwargs, request_id, enqueued_at)
), added AS (
    INSERT INTO job_history
        (job_id, task, status, attempts, kwargs, request_id, enqueued_at)
    SELECT job_id, task, status, 0, kwargs::json, request_id, enqueued_at FROM input
    ON CONFLICT (job_id) DO NOTHING
    RETURNING job_id
)
SELECT input.job_id, added.job_id IS NOT NULL AS inserted, known.status
FROM input
LEFT JOIN added ON added.job_id = input.job_id
LEFT JOIN job_history AS known ON known.job_id = input.job_id
"""

# The worker's group: its claims, then its outcomes. A group never holds a claim and an outcome
# of the same job (one write per job per group), so the two inserts never touch one row twice.
_CLAIMS_AND_OUTCOMES = """
WITH claimed AS (
    INSERT INTO job_history AS h
        (job_id, task, status, attempts, kwargs, request_id, enqueued_at, started_at)
    SELECT u.job_id, u.task, 'in_progress', 1, u.kwargs::json, u.request_id, u.enqueued_at, now()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
        AS u(job_id, task, kwargs, request_id, enqueued_at)
    ON CONFLICT (job_id) DO UPDATE
        SET attempts = h.attempts + 1, status = 'in_progress', started_at = EXCLUDED.started_at
        -- A finished job is not run again: its row is left as it is, and not returned.
        WHERE h.status NOT IN ('complete', 'dead')
    RETURNING h.job_id, h.attempts
), recorded AS (
    INSERT INTO job_history AS h
        (job_id, task, status, attempts, kwargs, request_id, enqueued_at, result, error,
         finished_at)
    SELECT u.job_id, u.task, u.status, u.attempts, u.kwargs::json, u.request_id, u.enqueued_at,
        u.result::json, u.error, u.finished_at
    FROM unnest($6::text[], $7::text[], $8::text[], $9::int[], $10::text[], $11::text[],
        $12::timestamptz[], $13::text[], $14::text[], $15::timestamptz[])
        AS u(job_id, task, status, attempts, kwargs, request_id, enqueued_at, result, error,
             finished_at)
    ON CONFLICT (job_id) DO UPDATE
        SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, result = EXCLUDED.result,
            error = EXCLUDED.error, finished_at = EXCLUDED.finished_at
    RETURNING h.job_id
)
SELECT job_id, attempts FROM claimed
"""
# Jobs the claim left alone (finished already): what the runner needs to answer their delivery.
_FINISHED = """
SELECT job_id, attempts, status, result::text, error FROM job_history WHERE job_id = ANY($1::text[])
"""


async def add_queued(
    connection: asyncpg.Connection, rows: Sequence[dict[str, Any]]
) -> dict[str, tuple[bool, str | None]]:
    """Insert the rows that are new; each job id's (inserted, status of the row it has)."""
    records = await connection.fetch(
        _QUEUED,
        *_columns(rows, "job_id", "task"),
        [str(row["status"]) for row in rows],
        # Strictly: a request's arguments that json cannot encode fail that request alone.
        [json.dumps(row["kwargs"]) for row in rows],
        *_columns(rows, "request_id", "enqueued_at"),
    )
    return {job_id: (inserted, status) for job_id, inserted, status in records}


async def claim_and_record(
    connection: asyncpg.Connection,
    claims: Sequence[dict[str, Any]],
    outcomes: Sequence[dict[str, Any]],
) -> dict[str, ClaimedRow]:
    """Write the claims and outcomes in one statement; returns each claimed job's row."""
    rows = await connection.fetch(
        _CLAIMS_AND_OUTCOMES,
        *_columns(claims, "job_id", "task"),
        [_json(row["kwargs"]) for row in claims],
        *_columns(claims, "request_id", "enqueued_at"),
        *_columns(outcomes, "job_id", "task", "status", "attempts"),
        [_json(row["kwargs"]) for row in outcomes],
        *_columns(outcomes, "request_id", "enqueued_at"),
        [_json(row["result"]) for row in outcomes],
        *_columns(outcomes, "error", "finished_at"),
    )
    claimed: dict[str, ClaimedRow] = {
        job_id: (attempts, JobStatus.IN_PROGRESS, None, None) for job_id, attempts in rows
    }
    finished = [row["job_id"] for row in claims if row["job_id"] not in claimed]
    if finished:
        for job_id, attempts, status, result, error in await connection.fetch(_FINISHED, finished):
            claimed[job_id] = (attempts, status, json.loads(result or "null"), error)
    return claimed


def _columns(rows: Sequence[dict[str, Any]], *names: str) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in names]


def _json(value: Any) -> str:
    # Results are the task's own values: anything json cannot encode is stored as its text,
    # rather than failing the whole group's commit.
    return json.dumps(value, default=str)
