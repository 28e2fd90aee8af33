"""Dead letters: the `dlq` commands, and a replay that completes the job under a new id."""

import json
import subprocess
from dataclasses import dataclass

import httpx
import pytest
from chassis.cli import build_parser
from chassis.jobs import JobStatus, Queue, history, run_burst
from chassis.jobs import cli as dlq
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness import tasks
from harness.jobs_helpers import job_status, record, submit
from harness.processes import CLI, TESTS_DIR, service_env
from sample.service import SERVICE
from sample.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def run_dlq(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """Run `dlq ARGV` in-process; its exit code and what it printed (and nothing printed before)."""
    capsys.readouterr()
    code = await dlq.run(settings, build_parser(SERVICE).parse_args(["dlq", *argv]))
    printed = capsys.readouterr()
    return Ran(code, printed.out, printed.err)


async def dead_job(settings: Settings, sessions: Sessions, queue: Queue, order_id: str) -> str:
    """A job that died of a permanent error; its order stays broken until the test fixes it."""
    tasks.BROKEN_ORDERS.add(order_id)
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id=order_id))
    await run_burst(settings)
    return job_id


async def test_list_shows_a_pending_dead_letter(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-list")
    ran = await run_dlq(settings, capsys, "list")
    line = next(row for row in ran.out.splitlines() if row.startswith(job_id))
    assert (ran.code, line.split()[1:3]) == (0, ["process_order", "1"])


async def test_show_prints_the_dead_letter_record(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-show")
    shown = json.loads((await run_dlq(settings, capsys, "show", job_id)).out)
    assert (shown["status"], shown["kwargs"]) == ("dead", {"order_id": "o-show"})


async def test_replay_completes_the_job_under_a_new_id(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    queue: Queue,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-replay")
    tasks.BROKEN_ORDERS.discard("o-replay")  # the fix is deployed
    new_id = (await run_dlq(settings, capsys, "replay", job_id)).out.split()[-1]
    await run_burst(settings)
    replayed = await job_status(client, new_id)
    assert (replayed["status"], replayed["result"], replayed["replay_of"]) == (
        "complete",
        {"order_id": "o-replay"},
        job_id,
    )


async def test_replayed_dead_letter_links_to_its_replay_and_leaves_the_list(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    queue: Queue,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-linked")
    new_id = (await run_dlq(settings, capsys, "replay", job_id)).out.split()[-1]
    listed = (await run_dlq(settings, capsys, "list", "--limit", "1000")).out
    old = await job_status(client, job_id)
    assert (old["status"], old["replayed_as"], job_id in listed) == ("dead", new_id, False)


async def test_second_replay_of_the_same_dead_letter_is_refused(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-again")
    await run_dlq(settings, capsys, "replay", job_id)
    again = await run_dlq(settings, capsys, "replay", job_id)
    assert (again.code, "already replayed" in again.err) == (1, True)


async def test_replay_of_a_job_that_is_not_dead_is_refused(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id="o-fine"))
    ran = await run_dlq(settings, capsys, "replay", job_id)
    assert (ran.code, "not dead" in ran.err) == (1, True)


async def test_replay_all_replays_every_pending_dead_letter(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = [await dead_job(settings, sessions, queue, f"o-all-{n}") for n in range(3)]
    ran = await run_dlq(settings, capsys, "replay", "--all")
    replayed = {line.split()[1] for line in ran.out.splitlines()}
    assert set(dead) <= replayed


async def test_purge_without_yes_deletes_nothing(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-keep")
    code = (await run_dlq(settings, capsys, "purge")).code
    assert (code, (await record(sessions, job_id)).status) == (1, JobStatus.DEAD)


async def test_purge_yes_deletes_dead_letters(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await dead_job(settings, sessions, queue, "o-purge")
    await run_dlq(settings, capsys, "purge", "--yes")
    async with sessions() as session:
        assert await history.get(session, job_id) is None


@pytest.mark.slow
def test_console_script_runs_dlq_list(settings: Settings) -> None:
    completed = subprocess.run(
        [*CLI, "dlq", "list"],
        cwd=TESTS_DIR,
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (completed.returncode, completed.stdout.split()[:2]) == (0, ["JOB", "ID"])
