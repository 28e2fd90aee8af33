"""Queue gauges for the web's /metrics, computed per scrape at a cost the backlog does not grow.

They are built for each scrape and registered nowhere, so importing this module adds no series to
any process's registry (the worker's own metrics are `jobs/_worker/metrics.py`).

arq keeps every job of a queue in one sorted set scored by when it is due (enqueue time plus any
defer), and leaves it there while it runs. So, in one round trip of three O(log N) commands per
queue, each series labelled with the queue's name (`default`, `scheduled`):

    ready backlog   ZCOUNT queue -inf now         due jobs, including those running now
    deferred        ZCOUNT queue (now +inf        jobs scheduled for later
    oldest age      ZRANGE queue 0 0 WITHSCORES   now - the lowest score, if it is due

No job key is read. Dead letters are `job_history` rows with status "dead": a COUNT through the
partial index on those rows (migration 0003) reads only the dead rows, and there should be few.
Postgres stays the one source of truth; a Redis counter would drift on replay and purge.

The web tier serves these, so every web replica reports the same values: aggregate with `max`.
"""

import asyncio
import time

import structlog
from chassis.core.metrics import metric_name
from chassis.core.outages import is_outage
from chassis.jobs.models import JobRecord, JobStatus
from chassis.jobs.queue import Queue
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = structlog.get_logger("metrics")

# A scrape must answer within Prometheus' timeout (10 s by default) even when a store hangs.
QUERY_TIMEOUT_SECONDS = 2.0


async def collect(queue: Queue, sessions: async_sessionmaker[AsyncSession]) -> list[Metric]:
    """The queue and dead-letter families; one that could not be read is left out, and `up` is 0."""
    families: list[Metric] = []
    up = 1
    try:
        families += await _queue_families(queue)
    except Exception as exc:
        if not (is_outage(exc) or isinstance(exc, TimeoutError)):
            raise
        log.warning("queue_metrics_unavailable", source="redis", error=str(exc))
        up = 0
    try:
        families.append(await _dead_letters(sessions))
    except Exception as exc:
        if not (is_outage(exc) or isinstance(exc, TimeoutError)):
            raise
        log.warning("queue_metrics_unavailable", source="database", error=str(exc))
        up = 0
    families.append(
        GaugeMetricFamily(
            metric_name("queue_metrics_up"),
            "1 if the last scrape read both the queue (Redis) and the dead letters (database).",
            value=up,
        )
    )
    return families


async def _queue_families(queue: Queue) -> list[Metric]:
    now_ms = time.time() * 1000
    async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
        async with queue.redis.pipeline(transaction=False) as pipe:
            for key in queue.keys.values():
                pipe.zcount(key, "-inf", now_ms)
                pipe.zcount(key, f"({now_ms}", "+inf")
                pipe.zrange(key, 0, 0, withscores=True)
            replies = await pipe.execute()
    ready = _family("queue_ready_jobs", "Jobs due now, waiting or running.")
    deferred = _family("queue_deferred_jobs", "Jobs scheduled to run later.")
    oldest = _family(
        "queue_oldest_ready_job_age_seconds",
        "How long the oldest due job has been due (0 when none is).",
    )
    for index, name in enumerate(queue.keys):
        due, later, lowest = replies[3 * index : 3 * index + 3]
        ready.add_metric([name], due)
        deferred.add_metric([name], later)
        oldest.add_metric([name], max(now_ms - lowest[0][1], 0) / 1000 if lowest else 0.0)
    return [ready, deferred, oldest]


async def _dead_letters(sessions: async_sessionmaker[AsyncSession]) -> Metric:
    async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(JobRecord).where(JobRecord.status == JobStatus.DEAD)
        )
    return GaugeMetricFamily(
        metric_name("dead_letter_jobs"), "Jobs in the dead letters.", value=count or 0
    )


def _family(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric_name(name), documentation, labels=["queue"])
