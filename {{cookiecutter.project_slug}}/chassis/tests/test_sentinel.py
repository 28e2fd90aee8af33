"""Redis behind Sentinel fails over twice while jobs run: once planned (`SENTINEL FAILOVER`), once
by a crash (SIGKILL of the primary). POSTs get 202 or a 503 problem meanwhile, web and worker
carry on without a restart, and every accepted job completes exactly once: those a switch lost
from Redis (asynchronous replication; see the README) after `jobs requeue`, as an operator runs it.

A primary and a replica (AOF on, as the deploy files run Redis) and three sentinels run on free
loopback ports (`PrivateSentinels`); web and worker run as a service runs them,
told only where the sentinels are. Their REDIS_URL names a port where nothing listens, so a client
that ignored the sentinels could not reach Redis at all.
"""

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis
from chassis.core.db import create_engine, create_session_factory
from chassis.core.redis import FOLLOW_SECONDS, create_redis

from harness import services
from harness.app import make_settings
from harness.jobs_helpers import notes_per_job, record
from harness.live_service import (
    FINAL_STATUSES,
    Answer,
    Trickle,
    create_schema,
    job_status,
    not_complete,
    product_env,
    statuses_by,
    unexpected_answers,
    web,
    worker,
)
from harness.private_servers import PrivateSentinels, private_sentinels
from harness.processes import CLI, TESTS_DIR, WAIT_SECONDS, eventually, free_port
from sample.settings import Settings

# Starts real processes and servers: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

POST_INTERVAL_SECONDS = 0.1
WORK_SECONDS = 0.3
# Accepted jobs before the first switch, and after each one before the next step.
ACCEPTED_BETWEEN = 20
SETTLE_SECONDS = 60.0


@dataclass
class Failovers:
    answers: list[Answer]
    job_ids: list[str]
    requeued: list[str]
    primaries: list[int]
    switch_seconds: list[float]
    statuses: dict[str, str]
    history: dict[str, str]
    attempts: dict[str, int]
    notes_per_job: dict[str, int]
    web_running: bool
    worker_running: bool
    web_errors: list[str]


async def switched(cluster: PrivateSentinels, old: int) -> int:
    """Wait until every sentinel names a primary other than `old`; its port."""
    primary: int | None = None

    async def moved() -> bool:
        nonlocal primary
        primary = await asyncio.to_thread(cluster.primary)
        return primary not in (None, old)

    await eventually(moved, "the sentinels to name a new primary")
    assert primary is not None
    return primary


def requeue(env: dict[str, str]) -> list[str]:
    """`sample jobs requeue --older-than 0`, as an operator runs it after a failover; the job ids."""
    done = subprocess.run(
        [*CLI, "jobs", "requeue", "--older-than", "0"], env=env, cwd=TESTS_DIR,
        capture_output=True, text=True, timeout=WAIT_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, f"jobs requeue failed:\n{done.stdout}{done.stderr}"
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("requeued ")]


@pytest.fixture(scope="module")
async def own_database(server_urls: services.ServerUrls) -> AsyncIterator[str]:
    """A database of this module's own: `jobs requeue` acts on every queued job in its database,
    and other tests leave jobs queued in the shared one."""
    url = services.scratch_database_url(server_urls.database)
    await services.create_database(url)
    try:
        yield url
    finally:
        await services.drop_database(url)


@pytest.fixture(scope="module")
async def failovers(own_database: str, tmp_path_factory: pytest.TempPathFactory) -> Failovers:
    with private_sentinels(tmp_path_factory.mktemp("sentinel")) as cluster:
        settings = make_settings(own_database, f"redis://127.0.0.1:{free_port()}/0")
        env = product_env(
            settings,
            REDIS_SENTINELS=cluster.addresses,
            REDIS_SENTINEL_MASTER=cluster.MASTER,
        )
        await create_schema(env)
        with web({**env, "RATE_LIMIT_ENABLED": "false"}) as api, worker(env) as work:
            await api.wait_until_live()
            await work.wait_until_live()
            engine = create_engine(settings)
            sessions = create_session_factory(engine)
            primaries = [cluster.nodes[0].port]
            switch_seconds = []
            try:
                async with httpx.AsyncClient(base_url=api.base_url, timeout=15) as http:
                    async with Trickle(http, WORK_SECONDS, POST_INTERVAL_SECONDS) as trickle:

                        async def accepted_in(phase: str) -> bool:
                            return len(trickle.accepted(phase)) >= ACCEPTED_BETWEEN

                        async def jobs_running() -> bool:
                            recent = trickle.accepted()[-10:]
                            states = [await job_status(http, job_id) for job_id in recent]
                            return "in_progress" in states

                        await eventually(partial(accepted_in, "before"), "202s before")
                        for phase, make_fail in (
                            ("planned", cluster.failover),
                            ("crash", cluster.crash_primary),
                        ):
                            await eventually(jobs_running, "accepted jobs running")
                            trickle.phase = phase
                            started = time.monotonic()
                            await asyncio.to_thread(make_fail)
                            primaries.append(await switched(cluster, primaries[-1]))
                            await eventually(partial(accepted_in, phase), f"202s after {phase}")
                            switch_seconds.append(time.monotonic() - started)
                            if phase == "planned":
                                # The old primary must be a replica in sync again before the
                                # crash, or the sentinels would have nothing to promote.
                                await asyncio.to_thread(
                                    cluster.wait_until,
                                    lambda: cluster.ready(primaries[-1]),
                                    "the old primary to follow the new one",
                                )
                        trickle.phase = "after"
                        await eventually(partial(accepted_in, "after"), "202s at the end")
                    job_ids = trickle.accepted()
                    # Every POST is answered: a job still `queued` in the history and missing
                    # from Redis now was lost in a switch, and the operator's command recovers it.
                    requeued = await asyncio.to_thread(requeue, env)
                    statuses = await statuses_by(http, job_ids, FINAL_STATUSES, SETTLE_SECONDS)
                records = {job_id: await record(sessions, job_id) for job_id in job_ids}
                notes = await notes_per_job(sessions, job_ids)
            finally:
                await engine.dispose()
            outcome = Failovers(
                answers=trickle.answers,
                job_ids=job_ids,
                requeued=requeued,
                primaries=primaries,
                switch_seconds=switch_seconds,
                statuses=statuses,
                history={job_id: r.status for job_id, r in records.items()},
                attempts={job_id: r.attempts for job_id, r in records.items()},
                notes_per_job=notes,
                web_running=api.running,
                worker_running=work.running,
                web_errors=api.errors(),
            )
    return outcome


def test_the_primary_moved_twice(failovers: Failovers) -> None:
    assert len(set(failovers.primaries[:2])) == 2
    assert failovers.primaries[2] != failovers.primaries[1]


def test_web_answers_202_or_a_503_problem_never_a_500(failovers: Failovers) -> None:
    assert unexpected_answers(failovers.answers) == [], "\n".join(failovers.web_errors)


def test_every_accepted_job_ends_complete(failovers: Failovers) -> None:
    unfinished = not_complete(failovers.statuses)
    requeued = len(failovers.requeued)
    assert unfinished == {}, f"{len(unfinished)} of {len(failovers.job_ids)}, {requeued} requeued"


def test_every_accepted_job_is_complete_in_the_history(failovers: Failovers) -> None:
    unfinished = not_complete(failovers.history)
    assert unfinished == {}, f"{len(unfinished)} of {len(failovers.job_ids)} jobs"


def test_each_job_writes_exactly_one_note(failovers: Failovers) -> None:
    assert failovers.notes_per_job == dict.fromkeys(failovers.job_ids, 1)


def test_no_job_ran_more_than_twice(failovers: Failovers) -> None:
    # A job taken on the old primary just before a switch can be taken again on the new one (its
    # in-progress mark was lost with the old primary): a second try, whose note the run-once
    # guard stops (one note each, above). A finished job's redelivery is not counted at all.
    assert {job_id: n for job_id, n in failovers.attempts.items() if not 1 <= n <= 2} == {}


def test_web_and_worker_carry_on_without_a_restart(failovers: Failovers) -> None:
    assert (failovers.web_running, failovers.worker_running) == (True, True)


def test_service_accepts_jobs_again_soon_after_each_switch(failovers: Failovers) -> None:
    # From the failure to ACCEPTED_BETWEEN new 202s: the sentinels' 1 s + their vote + 2 s of posts.
    assert max(failovers.switch_seconds) < WAIT_SECONDS / 4, failovers.switch_seconds


async def test_an_open_client_moves_to_the_new_primary_within_its_follow_interval(
    tmp_path: Path,
) -> None:
    # redis-py alone would keep this client's pooled connection on the old primary, which Sentinel
    # leaves writable for about 10 s after a planned switch; the write would then be lost.
    with private_sentinels(tmp_path) as cluster:
        settings = Settings(
            _env_file=None, redis_url="redis://127.0.0.1:1/0", redis_sentinels=cluster.sentinels
        )
        client = create_redis(settings)
        try:
            await client.set("before", 1)
            await asyncio.to_thread(cluster.failover)
            new_primary = await switched(cluster, cluster.nodes[0].port)
            await asyncio.sleep(FOLLOW_SECONDS)
            await client.set("after", 1)
        finally:
            await client.aclose()
        with redis.Redis(port=new_primary) as direct:
            assert direct.get("after") == b"1"
