"""Cron: the schedule engine (croniter), the loop that enqueues fire times, and a bad schedule.

The loop runs against the real Redis and Postgres with a clock the test moves (`FakeClock`), so
a test waits for the loop to reach its next sleep, never for minutes to pass.
"""

import asyncio
import itertools
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.core.redis import create_redis
from chassis.jobs import JobContext, Queue, cron, task
from chassis.jobs._worker.scheduler import SystemClock, run
from chassis.jobs.registry import Task
from chassis.jobs.retry import DEFAULT_BACKOFF
from chassis.jobs.schedules import Cron, Schedule, ScheduleError, check_schedules, started_at_of
from chassis.jobs.serializer import deserialize
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from harness.clock import FakeClock
from harness.processes import CLI, TESTS_DIR, eventually, service_env
from harness.redis_relay import RedisRelay
from sample.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
QUEUE = "scheduled"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Friday 9 January 2026, 12:30 UTC.
NOW = at("2026-01-09T12:30:00")


@pytest.mark.parametrize(
    ("expression", "following", "previous"),
    [
        ("0 9 * * mon-fri", "2026-01-12T09:00", "2026-01-09T09:00"),
        ("30 6 1 jan,jul *", "2026-07-01T06:30", "2026-01-01T06:30"),
        ("*/20 8-17 * * 1-5", "2026-01-09T12:40", "2026-01-09T12:20"),
        ("@hourly", "2026-01-09T13:00", "2026-01-09T12:00"),
        ("@daily", "2026-01-10T00:00", "2026-01-09T00:00"),
        ("@weekly", "2026-01-11T00:00", "2026-01-04T00:00"),
        ("@monthly", "2026-02-01T00:00", "2026-01-01T00:00"),
        ("@yearly", "2027-01-01T00:00", "2026-01-01T00:00"),
        # Day of month and weekday together: either matches, as in cron (the 13th is a Tuesday).
        ("0 0 13 * fri", "2026-01-13T00:00", "2026-01-09T00:00"),
        # Six fields: the first is seconds.
        ("*/15 * * * * *", "2026-01-09T12:30:15", "2026-01-09T12:29:45"),
    ],
)
def test_schedule_gives_next_and_previous_fire_times(
    expression: str, following: str, previous: str
) -> None:
    schedule = Schedule.parse(expression)
    assert (schedule.next_after(NOW), schedule.previous_before(NOW)) == (
        at(following),
        at(previous),
    )


def test_a_fire_time_is_its_own_latest() -> None:
    schedule = Schedule.parse("0 9 * * mon-fri")
    assert schedule.latest_at_or_before(at("2026-01-09T09:00")) == at("2026-01-09T09:00")


@pytest.mark.parametrize(
    "expression",
    ["0 8 * *", "61 * * * *", "0 0 30 2 *", "x * * * *", "0 0 * * 8", "@fortnightly", ""],
    ids=["four-fields", "minute-61", "feb-30", "not-a-number", "weekday-8", "macro", "empty"],
)
def test_bad_schedule_is_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(expression)


def test_bad_cron_schedule_names_its_task_in_one_line(settings: Settings) -> None:
    bad = Cron(scheduled_task("nightly_cleanup"), lambda settings: "0 25 * * *")
    with pytest.raises(ScheduleError, match=r"^cron nightly_cleanup: '0 25 \* \* \*'") as raised:
        check_schedules([bad], settings)
    assert "\n" not in str(raised.value)


def test_cron_task_needs_a_second_try() -> None:
    single = task(name="single_try_cron", max_tries=1)(noop)
    with pytest.raises(ValueError, match="max_tries >= 2"):
        cron(schedule=lambda settings: "* * * * *")(single)


def test_bad_feature_schedule_stops_the_worker_with_one_line(settings: Settings) -> None:
    # A feature's own setting (NOTES_SCHEDULE), checked when the worker starts.
    env = service_env(settings, NOTES_SCHEDULE="0 8 * * mon-fry")
    worker = subprocess.run(
        [*CLI, "worker", "--queue", QUEUE],
        env=env, cwd=TESTS_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (worker.returncode, worker.stderr.splitlines()) == (
        2,
        [
            "error: invalid settings: NOTES_SCHEDULE: '0 8 * * mon-fry' is not a cron "
            "schedule: [0 8 * * mon-fry] is not acceptable"
        ],
    )


async def noop(ctx: JobContext, *, scheduled_at: str) -> None:
    return None


def scheduled_task(name: str) -> Task[Any]:
    """A task on the scheduled queue, not registered, so no worker of another test runs it."""
    return Task(name, noop, None, 3, (), DEFAULT_BACKOFF, QUEUE)


def every_minute() -> Cron:
    # A fresh name per test: `cron_schedules` outlives a test, and a first start is per name.
    return Cron(scheduled_task(f"tick_{uuid.uuid4().hex[:8]}"), lambda settings: "* * * * *")


async def queued(redis: Redis, settings: Settings) -> list[str]:
    return [job_id.decode() for job_id in await redis.zrange(settings.queue_key(QUEUE), 0, -1)]


@pytest.fixture
async def start(
    settings: Settings, redis: Redis, sessions: Sessions
) -> AsyncIterator[Callable[..., asyncio.Task[None]]]:
    """Start `run` as a worker does; every loop started is cancelled at the end."""
    loops: list[asyncio.Task[None]] = []

    def start_loop(entry: Cron, clock: FakeClock, **options: Any) -> asyncio.Task[None]:
        queue = options.pop("queue", Queue(redis, settings))
        sessions_ = options.pop("sessions", sessions)
        loop = asyncio.create_task(run([entry], settings, queue, sessions_, clock=clock, **options))
        loops.append(loop)
        return loop

    yield start_loop
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)


async def test_loop_sleeps_until_the_next_fire_time(start: Callable[..., Any]) -> None:
    clock = FakeClock(at("2030-01-01T10:00:30"))
    start(every_minute(), clock)
    await clock.sleepers(at("2030-01-01T10:01:00"))
    assert clock.sleeping_until == [at("2030-01-01T10:01:00")]


async def test_loop_enqueues_the_fire_time_when_the_clock_reaches_it(
    start: Callable[..., Any], settings: Settings, redis: Redis
) -> None:
    entry, clock = every_minute(), FakeClock(at("2030-01-01T10:00:30"))
    start(entry, clock)
    await clock.sleepers(at("2030-01-01T10:01:00"))

    await clock.set(at("2030-01-01T10:01:00"))
    await clock.sleepers(at("2030-01-01T10:02:00"))

    [job_id] = await queued(redis, settings)
    job = deserialize(await redis.get(f"arq:job:{job_id}"))
    assert (job_id, job["f"], job["k"]) == (
        entry.job_id(at("2030-01-01T10:01:00")),
        entry.task.name,
        {"scheduled_at": "2030-01-01T10:01:00+00:00"},
    )


async def test_two_loops_enqueue_each_fire_time_once(
    start: Callable[..., Any], settings: Settings, redis: Redis
) -> None:
    entry, clock = every_minute(), FakeClock(at("2030-01-01T10:00:30"))
    start(entry, clock)
    start(entry, clock)
    fire_times = [at(f"2030-01-01T10:0{minute}:00") for minute in (1, 2, 3)]
    await clock.sleepers(fire_times[0], count=2)
    for fire, following in itertools.pairwise([*fire_times, at("2030-01-01T10:04:00")]):
        await clock.set(fire)
        await clock.sleepers(following, count=2)  # both loops have tried to enqueue `fire`

    assert sorted(await queued(redis, settings)) == sorted(map(entry.job_id, fire_times))


async def test_first_start_catches_nothing_up(
    start: Callable[..., Any], settings: Settings, redis: Redis, sessions: Sessions
) -> None:
    entry, clock = every_minute(), FakeClock(at("2030-01-01T10:00:30"))
    start(entry, clock)
    await clock.sleepers(at("2030-01-01T10:01:00"))

    async with sessions() as session:
        began = await started_at_of(session, entry.task.name)
    assert (began, await queued(redis, settings)) == (at("2030-01-01T10:00:30"), [])


async def test_restart_after_downtime_enqueues_only_the_latest_missed_fire_time(
    start: Callable[..., Any], settings: Settings, redis: Redis
) -> None:
    entry, clock = every_minute(), FakeClock(at("2030-01-01T10:00:30"))
    first = start(entry, clock)
    await clock.sleepers(at("2030-01-01T10:01:00"))
    first.cancel()  # every worker down from 10:00:30 to 10:05:30

    await clock.set(at("2030-01-01T10:05:30"))
    start(entry, clock)
    await clock.sleepers(at("2030-01-01T10:06:00"))

    assert await queued(redis, settings) == [entry.job_id(at("2030-01-01T10:05:00"))]


async def test_loop_ends_only_when_cancelled(start: Callable[..., Any]) -> None:
    clock = FakeClock(at("2030-01-01T10:00:30"))
    loop = start(every_minute(), clock)
    await clock.sleepers(at("2030-01-01T10:01:00"))

    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert loop.cancelled()


async def test_loop_rides_out_postgres_and_redis_outages(
    start: Callable[..., Any], settings: Settings, redis: Redis
) -> None:
    """Postgres down at start, then Redis down at a fire time: logged once each, then caught up."""
    database = make_url(settings.database_url)
    postgres = RedisRelay(f"redis://{database.host}:{database.port}/")
    redis_relay = RedisRelay(settings.redis_url)
    await postgres.up()
    await redis_relay.up()
    relayed = settings.model_copy(
        update={
            "database_url": database.set(host="127.0.0.1", port=postgres.port).render_as_string(
                hide_password=False
            ),
            "redis_url": redis_relay.url,
        }
    )
    engine = create_engine(relayed)
    relayed_redis = create_redis(relayed)
    entry, clock = every_minute(), FakeClock(at("2030-01-01T10:00:30"))
    try:
        with capture_logs() as logs:
            await postgres.down()
            loop = start(
                entry,
                clock,
                queue=Queue(relayed_redis, relayed),
                sessions=create_session_factory(engine),
                max_retry_seconds=0.05,
            )

            async def logged(event: str, count: int) -> bool:
                return [log["event"] for log in logs].count(event) >= count

            await eventually(lambda: logged("cron_dependency_down", 1), what="postgres outage")
            await asyncio.sleep(0.3)  # several retries while Postgres stays down
            await postgres.up()
            await clock.sleepers(at("2030-01-01T10:01:00"))

            await redis_relay.down()
            await clock.set(at("2030-01-01T10:01:00"))
            await eventually(lambda: logged("cron_dependency_down", 2), what="redis outage")
            await asyncio.sleep(0.3)
            await redis_relay.up()
            await clock.sleepers(at("2030-01-01T10:02:00"))
            events = [(log["event"], log.get("step")) for log in logs if log["log_level"] != "info"]
            recovered = [log["step"] for log in logs if log["event"] == "cron_recovered"]
    finally:
        await relayed_redis.aclose()
        await engine.dispose()
        await redis_relay.down()
        await postgres.down()

    assert (events, recovered, loop.done(), await queued(redis, settings)) == (
        [("cron_dependency_down", "record_start"), ("cron_dependency_down", "enqueue")],
        ["record_start", "enqueue"],
        False,
        [entry.job_id(at("2030-01-01T10:01:00"))],
    )


async def test_system_clock_wakes_at_the_fire_time() -> None:
    clock = SystemClock()
    target = clock.now() + timedelta(seconds=0.3)

    await clock.sleep_until(target)

    late = (clock.now() - target).total_seconds()
    assert 0 <= late < 0.1
