import asyncio
import dataclasses
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from chassis.jobs import JobRecord, Message, Queue, run_burst
from chassis.jobs._worker.scheduler import run
from chassis.jobs.schedules import Cron, CronSchedule, registered_crons
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.digests import service
from {{ cookiecutter.package_name }}.digests.models import DigestRun
from {{ cookiecutter.package_name }}.digests.notifiers import SmtpNotifier, WebhookNotifier
from {{ cookiecutter.package_name }}.digests.period import Period
from {{ cookiecutter.package_name }}.digests.settings import DigestSettings
from {{ cookiecutter.package_name }}.digests.summary import Digest
from {{ cookiecutter.package_name }}.digests.tasks import send_activity_digest
from {{ cookiecutter.package_name }}.reports.models import Report
from {{ cookiecutter.package_name }}.settings import Settings
from tests.clock import FakeClock
from tests.processes import CLI, eventually, queues_json, running, service_env
from tests.receivers import smtp_receiver, webhook_receiver

Sessions = async_sessionmaker[AsyncSession]
# Each test gets its own hour in 2001, so rows seeded by one never land in another's period.
_HOURS = itertools.count()


class RecordingNotifier:
    name = "recording"

    def __init__(self, delay_seconds: float = 0) -> None:
        self.sent: list[Digest] = []
        self.delay_seconds = delay_seconds

    async def send(self, digest: Digest) -> None:
        await asyncio.sleep(self.delay_seconds)
        self.sent.append(digest)


class RefusingNotifier:
    name = "refusing"

    async def send(self, digest: Digest) -> None:
        raise ConnectionError("relay said no")


@pytest.fixture
def period() -> Period:
    start = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(hours=next(_HOURS))
    return Period(start=start, end=start + timedelta(hours=1))


def job(job_id: str, status: str, finished_at: datetime) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        task="generate_report",
        status=status,
        attempts=1,
        kwargs={},
        enqueued_at=finished_at,
        finished_at=finished_at,
    )


def report(report_id: str, created_at: datetime) -> Report:
    return Report(id=report_id, job_id=report_id, title="t", body="b", created_at=created_at)


async def seed(sessions: Sessions, period: Period) -> None:
    """Inside the period: 3 complete, 2 failed, 1 dead, 2 reports. Outside: one of each kind."""
    inside, tag = period.start + timedelta(minutes=5), period.start.isoformat()
    rows = [
        *(job(f"{tag}-c{n}", "complete", inside) for n in range(3)),
        *(job(f"{tag}-f{n}", "failed", inside) for n in range(2)),
        job(f"{tag}-d0", "dead", inside),
        job(f"{tag}-before", "complete", period.start - timedelta(seconds=1)),
        job(f"{tag}-at-end", "failed", period.end),
        report(f"{tag}-r0", inside),
        report(f"{tag}-r1", period.start),
        report(f"{tag}-r-after", period.end),
    ]
    async with sessions.begin() as session:
        session.add_all(rows)


async def runs_for(
    sessions: Sessions, periods: list[tuple[datetime, datetime]]
) -> Counter[tuple[datetime, datetime]]:
    async with sessions() as session:
        rows = await session.execute(
            select(DigestRun.period_start, DigestRun.period_end).where(
                DigestRun.digest == service.ACTIVITY
            )
        )
    wanted = set(periods)
    return Counter((start, end) for start, end in rows.all() if (start, end) in wanted)


async def test_notifier_receives_the_period_counts(sessions: Sessions, period: Period) -> None:
    await seed(sessions, period)
    notifier = RecordingNotifier()

    await service.send_once(sessions, notifier, period)

    assert [digest.counts() for digest in notifier.sent] == [
        {"jobs_completed": 3, "jobs_failed": 2, "jobs_dead": 1, "reports_created": 2}
    ]


async def test_second_run_for_the_same_period_is_a_no_op(
    sessions: Sessions, period: Period
) -> None:
    notifier = RecordingNotifier()

    first = await service.send_once(sessions, notifier, period)
    second = await service.send_once(sessions, notifier, period)

    assert (first is not None, second, len(notifier.sent)) == (True, None, 1)


async def test_concurrent_runs_for_one_period_send_once(sessions: Sessions, period: Period) -> None:
    # The first send is slow, so the second run reaches the unique key while it is held.
    notifier = RecordingNotifier(delay_seconds=0.3)

    results = await asyncio.gather(
        service.send_once(sessions, notifier, period),
        service.send_once(sessions, notifier, period),
    )

    assert (sorted(result is None for result in results), len(notifier.sent)) == ([False, True], 1)


async def test_failed_send_leaves_the_period_to_send_again(
    sessions: Sessions, period: Period
) -> None:
    with pytest.raises(ConnectionError):
        await service.send_once(sessions, RefusingNotifier(), period)

    assert await service.send_once(sessions, RecordingNotifier(), period) is not None


async def test_sent_digest_is_recorded_with_its_summary(sessions: Sessions, period: Period) -> None:
    digest = await service.send_once(sessions, RecordingNotifier(), period)

    async with sessions() as session:
        run = await session.scalar(select(DigestRun).where(DigestRun.period_start == period.start))
    assert digest is not None
    assert run is not None
    assert (run.notifier, run.summary) == ("recording", digest.as_dict())


async def test_webhook_notifier_posts_the_digest_as_json(period: Period) -> None:
    digest = Digest("activity", period, 1, 2, 3, 4)
    with webhook_receiver() as (url, received):
        await WebhookNotifier(url, timeout_seconds=5).send(digest)
    assert received.snapshot() == [digest.as_dict()]


async def test_webhook_answer_other_than_2xx_is_a_failed_send(period: Period) -> None:
    with webhook_receiver() as (url, received):
        received.status = 503
        with pytest.raises(httpx.HTTPStatusError):
            await WebhookNotifier(url, timeout_seconds=5).send(
                Digest("activity", period, 0, 0, 0, 0)
            )


async def test_smtp_notifier_mails_the_counts(settings: Settings, period: Period) -> None:
    with smtp_receiver() as (port, received):
        smtp_settings = DigestSettings(
            notifier="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            email_to="ops@example.com, oncall@example.com",
        )
        await SmtpNotifier(smtp_settings).send(Digest("activity", period, 7, 0, 1, 2))
    [message] = received.snapshot()
    assert "To: ops@example.com, oncall@example.com" in message
    assert "jobs completed: 7" in message
    assert "jobs dead: 1" in message


def test_smtp_notifier_without_a_host_is_refused() -> None:
    with pytest.raises(ValidationError, match="DIGEST_SMTP_HOST"):
        DigestSettings(notifier="smtp", email_to="ops@example.com")


async def cli_digest_run(settings: Settings, *args: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        *CLI, "digest", "run", *args, env=service_env(settings), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    result: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


@pytest.mark.slow
async def test_cli_backfill_sends_a_period_once(
    settings: Settings, sessions: Sessions, period: Period
) -> None:
    await seed(sessions, period)

    first = await cli_digest_run(settings, "--period", str(period))
    second = await cli_digest_run(settings, "--period", str(period))

    assert (first["sent"], first["jobs_dead"], second["sent"]) == (True, 1, False)


def digest_cron() -> Cron:
    [entry] = [entry for entry in registered_crons() if entry.task is send_activity_digest]
    return entry


@pytest.fixture
async def fresh_digest(sessions: Sessions) -> None:
    """No activity digest sent and its schedule never started, as on a brand-new database."""
    async with sessions.begin() as session:
        await session.execute(delete(DigestRun).where(DigestRun.digest == service.ACTIVITY))
        await session.execute(
            delete(CronSchedule).where(CronSchedule.name == send_activity_digest.name)
        )


async def sent_digests(sessions: Sessions) -> list[tuple[datetime, datetime, int]]:
    """(start, end, jobs completed) of every activity digest sent, oldest first."""
    async with sessions() as session:
        runs = await session.scalars(
            select(DigestRun)
            .where(DigestRun.digest == service.ACTIVITY)
            .order_by(DigestRun.period_start)
        )
        return [(run.period_start, run.period_end, run.summary["jobs_completed"]) for run in runs]


async def completed_jobs_at(sessions: Sessions, *moments: datetime) -> None:
    async with sessions.begin() as session:
        session.add_all(job(f"done-{moment.isoformat()}", "complete", moment) for moment in moments)


class HourlyDigest:
    """The shipped digest cron on an hourly schedule, run as a worker runs it, on a fake clock."""

    def __init__(self, settings: Settings, redis: Redis, sessions: Sessions, now: datetime) -> None:
        self.settings = settings
        self.cron = dataclasses.replace(digest_cron(), schedule=lambda _settings: "0 * * * *")
        self.queue = Queue(redis, self.settings)
        self.sessions = sessions
        self.clock = FakeClock(now)
        self.loop: asyncio.Task[None] | None = None

    async def start(self, now: datetime) -> None:
        """A worker starts at `now` and its cron loop reaches its first sleep."""
        await self.clock.set(now)
        self.loop = asyncio.create_task(
            run([self.cron], self.settings, self.queue, self.sessions, clock=self.clock)
        )
        await self.clock.sleepers(now.replace(minute=0, second=0) + timedelta(hours=1))

    async def stop(self) -> None:
        if self.loop is not None:
            self.loop.cancel()
            await asyncio.gather(self.loop, return_exceptions=True)

    async def fire(self, at: datetime) -> None:
        """The clock reaches the fire time `at`; the loop enqueues it and sleeps again."""
        await self.clock.set(at)
        await self.clock.sleepers(at + timedelta(hours=1))

    async def run_jobs(self) -> None:
        await run_burst(self.settings, "scheduled")


@pytest.fixture
async def hourly(
    settings: Settings, redis: Redis, sessions: Sessions, fresh_digest: None
) -> AsyncIterator[HourlyDigest]:
    digest = HourlyDigest(settings, redis, sessions, datetime(2002, 1, 1, tzinfo=UTC))
    yield digest
    await digest.stop()


def hour(day: int, hours: int, minutes: int = 0) -> datetime:
    return datetime(2002, 1, day, hours, minutes, tzinfo=UTC)


async def test_first_start_sends_no_catch_up(hourly: HourlyDigest, redis: Redis) -> None:
    await hourly.start(hour(1, 0, 30))

    assert await redis.zcard(hourly.settings.queue_key("scheduled")) == 0


async def test_first_digest_starts_when_its_schedule_began(
    hourly: HourlyDigest, sessions: Sessions
) -> None:
    await completed_jobs_at(sessions, hour(1, 0, 10), hour(1, 0, 40))
    await hourly.start(hour(1, 0, 30))

    await hourly.fire(hour(1, 1))
    await hourly.run_jobs()

    assert await sent_digests(sessions) == [(hour(1, 0, 30), hour(1, 1), 1)]


async def test_after_downtime_the_next_digest_covers_everything_since_the_last_sent(
    hourly: HourlyDigest, sessions: Sessions
) -> None:
    await completed_jobs_at(sessions, *(hour(2, hours, 10) for hours in range(5)))
    await hourly.start(hour(2, 0, 30))
    await hourly.fire(hour(2, 1))
    await hourly.run_jobs()
    await hourly.stop()  # every worker down through the fire times 02:00 and 03:00

    await hourly.start(hour(2, 4, 30))
    await hourly.run_jobs()

    assert await sent_digests(sessions) == [
        (hour(2, 0, 30), hour(2, 1), 0),
        (hour(2, 1), hour(2, 4), 3),  # 01:10, 02:10 and 03:10
    ]


def joined(periods: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Adjoining periods merged into one; a gap or an overlap leaves them apart."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(periods):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


async def test_racing_runs_for_two_fire_times_neither_overlap_nor_leave_a_gap(
    sessions: Sessions, fresh_digest: None
) -> None:
    # The first send is slow, so the other run reaches the unique key on the start while it is held.
    notifier = RecordingNotifier(delay_seconds=0.3)

    await asyncio.gather(
        service.send_since_last(sessions, notifier, hour(3, 1), first_start=hour(3, 0)),
        service.send_since_last(sessions, notifier, hour(3, 2), first_start=hour(3, 0)),
    )

    sent = [(digest.period.start, digest.period.end) for digest in notifier.sent]
    assert joined(sent) == [(hour(3, 0), hour(3, 2))]


async def test_late_enqueue_of_a_finished_cron_run_is_refused(
    settings: Settings, redis: Redis, fresh_digest: None
) -> None:
    """What a worker whose clock lags does: enqueue a scheduled time that already ran."""
    scheduled_at = datetime(2001, 6, 1, 8, tzinfo=UTC)
    queue = Queue(redis, settings)
    job_id = digest_cron().job_id(scheduled_at)
    message = Message(
        task=send_activity_digest.name,
        kwargs={"scheduled_at": scheduled_at.isoformat()},
        queue="scheduled",
    )
    await queue.enqueue(message, job_id=job_id)
    await run_burst(settings, "scheduled")

    assert await queue.enqueue(message, job_id=job_id) is None


@pytest.mark.slow
async def test_two_workers_send_adjoining_periods_once(
    settings: Settings, sessions: Sessions, fresh_digest: None
) -> None:
    with webhook_receiver() as (url, received):
        env = service_env(
            settings,
            DIGEST_SCHEDULE="* * * * * *",  # every second: a forced schedule
            DIGEST_NOTIFIER="webhook",
            DIGEST_WEBHOOK_URL=url,
            # A digest in flight at SIGTERM finishes and commits.
            QUEUES=queues_json(settings, drain_seconds=10),
        )
        worker = [*CLI, "worker", "--queue", "scheduled"]
        with running(worker, worker, env=env):

            async def four_sent() -> bool:
                return len(received.snapshot()) >= 4

            await eventually(four_sent, what="four digests from two workers")
        bodies = received.snapshot()

    periods = [
        (datetime.fromisoformat(body["period_start"]), datetime.fromisoformat(body["period_end"]))
        for body in bodies
    ]
    # One sent period from the first start to the last end: no gap, no overlap, none twice.
    assert (len(joined(periods)), await runs_for(sessions, periods)) == (1, Counter(periods))
