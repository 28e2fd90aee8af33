import asyncio
import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.crontab import Crontab
from {{ cookiecutter.package_name }}.digests import service
from {{ cookiecutter.package_name }}.digests.models import DigestRun
from {{ cookiecutter.package_name }}.digests.notifiers import SmtpNotifier, WebhookNotifier
from {{ cookiecutter.package_name }}.digests.period import Period
from {{ cookiecutter.package_name }}.digests.summary import Digest
from {{ cookiecutter.package_name }}.jobs import JobRecord, Message, Queue, registered_crons
from {{ cookiecutter.package_name }}.jobs.scheduler import catch_up
from {{ cookiecutter.package_name }}.reports.models import Report
from {{ cookiecutter.package_name }}.worker import run_burst
from tests.processes import CLI, eventually, running, service_env
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
        smtp_settings = Settings(
            database_url=settings.database_url,
            digest_notifier="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            digest_email_to="ops@example.com, oncall@example.com",
        )
        await SmtpNotifier(smtp_settings).send(Digest("activity", period, 7, 0, 1, 2))
    [message] = received.snapshot()
    assert "To: ops@example.com, oncall@example.com" in message
    assert "jobs completed: 7" in message
    assert "jobs dead: 1" in message


def test_smtp_notifier_without_a_host_is_refused() -> None:
    with pytest.raises(ValidationError, match="SMTP_HOST"):
        Settings(digest_notifier="smtp", digest_email_to="ops@example.com")


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


async def test_catch_up_on_start_sends_the_latest_period(
    settings: Settings, sessions: Sessions, redis: Redis
) -> None:
    latest = Period.latest(Crontab.parse(settings.digest_schedule), datetime.now(UTC))
    await catch_up(registered_crons(), settings, redis)

    await run_burst(settings)

    key = (latest.start, latest.end)
    assert await runs_for(sessions, [key]) == {key: 1}


async def test_late_enqueue_of_a_finished_cron_run_is_refused(
    settings: Settings, redis: Redis
) -> None:
    """What a worker whose clock lags does: enqueue a scheduled time that already ran."""
    [digest_cron] = registered_crons()
    scheduled_at = datetime(2001, 6, 1, 8, tzinfo=UTC)
    queue = Queue(redis, settings.queue_name)
    job_id = digest_cron.job_id(scheduled_at)
    await queue.enqueue(Message(task=digest_cron.name), job_id=job_id)
    await run_burst(settings)

    assert await queue.enqueue(Message(task=digest_cron.name), job_id=job_id) is None


@pytest.mark.slow
async def test_two_workers_send_each_scheduled_period_once(
    settings: Settings, sessions: Sessions, redis: Redis
) -> None:
    with webhook_receiver() as (url, received):
        env = service_env(
            settings,
            DIGEST_SCHEDULE="* * * * * *",  # every second: a forced schedule
            DIGEST_NOTIFIER="webhook",
            DIGEST_WEBHOOK_URL=url,
            WORKER_DRAIN_SECONDS="10",  # a digest in flight at SIGTERM finishes and commits
        )
        with running([*CLI, "worker"], [*CLI, "worker"], env=env):

            async def four_sent() -> bool:
                return len(received.snapshot()) >= 4

            await eventually(four_sent, what="four digests from two workers")
        bodies = received.snapshot()

    periods = [
        (datetime.fromisoformat(body["period_start"]), datetime.fromisoformat(body["period_end"]))
        for body in bodies
    ]
    assert Counter(periods).most_common(1)[0][1] == 1
    assert await runs_for(sessions, periods) == Counter(periods)
