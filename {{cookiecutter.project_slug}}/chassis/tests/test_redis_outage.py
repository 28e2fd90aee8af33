"""Redis stopped for 10 s while jobs run: no accepted job is lost, failed or run twice, and job
status tells the truth as soon as Redis is back.

web and worker run as a service runs them (`sample web`, `sample worker`), on a redis-server of the test's own
with an append-only file (as a queue's Redis must run), which the test stops while a steady
trickle of note requests goes on and starts again 10 s later on the same port and data.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from chassis.core.db import create_engine, create_session_factory

from harness.app import make_settings
from harness.jobs_helpers import notes_per_job, record
from harness.live_service import (
    FINAL_STATUSES,
    Answer,
    Service,
    Trickle,
    job_status,
    not_complete,
    product_env,
    statuses_by,
    unexpected_answers,
    unfinished_summary,
    web,
    worker,
)
from harness.private_servers import private_redis
from harness.processes import eventually

# Starts real processes and servers: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 10
# Ten requests a second of half-second jobs: about five are mid-run when Redis stops.
POST_INTERVAL_SECONDS = 0.1
WORK_SECONDS = 0.5
ACCEPTED_BEFORE = 30
ACCEPTED_AFTER = 30
# A job whose history says complete reads complete this soon after Redis answers again.
TRUTHFUL_STATUS_SECONDS = 5.0
SETTLE_SECONDS = 90.0


@dataclass
class Outage:
    answers: list[Answer]
    job_ids: list[str]
    running_at_stop: list[str]
    probes_during: tuple[int, int]
    complete_in_history_at_recovery: list[str]
    stale_after_recovery: dict[str, str]
    readyz_after: int
    statuses: dict[str, str]
    history: dict[str, str]
    notes_per_job: dict[str, int]
    worker_running: bool
    web_errors: list[str]
    worker_errors: list[str]


async def probes(work: Service) -> tuple[int, int]:
    """(healthz, readyz) of the worker; 0 when a probe does not answer."""
    codes = []
    for path in ("/healthz", "/readyz"):
        try:
            codes.append((await work.get(path)).status_code)
        except httpx.HTTPError:
            codes.append(0)
    return codes[0], codes[1]


async def hold_outage(work: Service, seconds: float) -> tuple[int, int]:
    """Keep Redis down for `seconds`; the worker's probes once it has noticed (or at the end)."""
    ends = time.monotonic() + seconds
    seen = await probes(work)
    while seen[1] == 200 and time.monotonic() < ends:
        await asyncio.sleep(0.2)
        seen = await probes(work)
    await asyncio.sleep(max(0.0, ends - time.monotonic()))  # the rest of the outage
    return seen


@pytest.fixture(scope="module")
async def outage(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outage]:
    with private_redis(tmp_path_factory.mktemp("redis-outage")) as server:
        settings = make_settings(database_url, server.url)
        env = product_env(settings)
        with web({**env, "RATE_LIMIT_ENABLED": "false"}) as api, worker(env) as work:
            await api.wait_until_live()
            await work.wait_until_live()
            engine = create_engine(settings)
            sessions = create_session_factory(engine)
            try:
                async with httpx.AsyncClient(base_url=api.base_url, timeout=15) as http:
                    async with Trickle(http, WORK_SECONDS, POST_INTERVAL_SECONDS) as trickle:
                        running: list[str] = []

                        async def jobs_are_running() -> bool:
                            accepted = trickle.accepted()
                            if len(accepted) < ACCEPTED_BEFORE:
                                return False
                            states = {j: await job_status(http, j) for j in accepted[-10:]}
                            running[:] = [j for j, s in states.items() if s == "in_progress"]
                            return bool(running)

                        await eventually(jobs_are_running, "accepted jobs running on the worker")
                        trickle.phase = "during"
                        await asyncio.to_thread(server.stop)
                        probes_during = await hold_outage(work, OUTAGE_SECONDS)
                        await asyncio.to_thread(server.start)
                        recovered_at = time.monotonic()
                        trickle.phase = "after"
                        accepted = trickle.accepted()
                        history_now = {j: (await record(sessions, j)).status for j in accepted}
                        complete = [j for j, s in history_now.items() if s == "complete"]
                        left = TRUTHFUL_STATUS_SECONDS - (time.monotonic() - recovered_at)
                        read = await statuses_by(http, complete, frozenset({"complete"}), left)
                        stale = {j: s for j, s in read.items() if s != "complete"}

                        async def accepted_again() -> bool:
                            return len(trickle.accepted("after")) >= ACCEPTED_AFTER

                        await eventually(accepted_again, "the web tier to accept jobs again")
                    job_ids = trickle.accepted()
                    statuses = await statuses_by(http, job_ids, FINAL_STATUSES, SETTLE_SECONDS)
                readyz_after = (await probes(work))[1]
                worker_running = work.running
                web_errors = api.errors()
                worker_errors = work.errors()
                history = {j: (await record(sessions, j)).status for j in job_ids}
                notes = await notes_per_job(sessions, job_ids)
            finally:
                await engine.dispose()
        yield Outage(
            answers=trickle.answers,
            job_ids=job_ids,
            running_at_stop=running,
            probes_during=probes_during,
            complete_in_history_at_recovery=complete,
            stale_after_recovery=stale,
            readyz_after=readyz_after,
            statuses=statuses,
            history=history,
            notes_per_job=notes,
            worker_running=worker_running,
            web_errors=web_errors,
            worker_errors=worker_errors,
        )


def test_jobs_were_accepted_and_running_when_redis_stopped(outage: Outage) -> None:
    assert outage.running_at_stop
    assert len(outage.job_ids) >= ACCEPTED_BEFORE + ACCEPTED_AFTER


def test_web_answers_202_or_a_503_problem_never_a_500(outage: Outage) -> None:
    assert unexpected_answers(outage.answers) == [], "\n".join(outage.web_errors)


def test_worker_stays_live_but_not_ready_while_redis_is_down(outage: Outage) -> None:
    assert outage.probes_during == (200, 503)


def test_worker_is_ready_again_after_the_outage(outage: Outage) -> None:
    assert outage.readyz_after == 200


def test_every_accepted_job_ends_complete(outage: Outage) -> None:
    unfinished = not_complete(outage.statuses)
    assert unfinished == {}, unfinished_summary(
        unfinished, len(outage.job_ids), outage.worker_errors
    )


def test_every_accepted_job_is_complete_in_the_history(outage: Outage) -> None:
    unfinished = not_complete(outage.history)
    assert unfinished == {}, unfinished_summary(
        unfinished, len(outage.job_ids), outage.worker_errors
    )


def test_status_reads_complete_within_5_s_of_recovery_when_history_says_so(
    outage: Outage,
) -> None:
    assert outage.stale_after_recovery == {}, (
        f"{len(outage.stale_after_recovery)} of "
        f"{len(outage.complete_in_history_at_recovery)} jobs complete in the history"
    )


def test_each_job_writes_exactly_one_note(outage: Outage) -> None:
    assert outage.notes_per_job == dict.fromkeys(outage.job_ids, 1), "\n".join(outage.worker_errors)


def test_worker_process_is_still_running(outage: Outage) -> None:
    assert outage.worker_running
