"""The jobs commands: `dlq` for dead letters, `jobs requeue` for jobs Redis lost.

SERVICE dlq list [--limit N]     dead letters not yet replayed, newest first
SERVICE dlq show JOB_ID          one job's history record, as JSON
SERVICE dlq replay JOB_ID        enqueue it again under a new job id
SERVICE dlq replay --all         replay every pending dead letter
SERVICE dlq purge --yes          delete every dead letter
SERVICE jobs requeue             enqueue again the `queued` jobs Redis lost
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from chassis.core.db import create_engine, create_session_factory
from chassis.core.errors import ServiceUnavailable
from chassis.core.outages import outage_of
from chassis.core.redis import create_redis
from chassis.jobs import dead_letters, history
from chassis.jobs.accept import submit
from chassis.jobs.models import JobRecord, JobStatus
from chassis.jobs.queue import Queue
from chassis.jobs.registry import Message, registered_tasks
from chassis.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

Action = Callable[[AsyncSession, Queue, argparse.Namespace], Awaitable[int]]
ERROR_WIDTH = 60


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add `dlq` to the project's command (argparse's subparser type is private)."""
    dlq = commands.add_parser("dlq", help="inspect and replay dead letters", description=__doc__)
    dlq.formatter_class = argparse.RawDescriptionHelpFormatter
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead letters not yet replayed, newest first")
    listing.add_argument("--limit", type=int, default=50)
    actions.add_parser("show", help="one job's history record").add_argument("job_id")
    replay = actions.add_parser("replay", help="enqueue dead letters again under new job ids")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?")
    target.add_argument("--all", action="store_true", help="every pending dead letter")
    purge = actions.add_parser("purge", help="delete every dead letter")
    purge.add_argument("--yes", action="store_true", help="delete without asking again")
    # Replay checks that a worker still knows the dead job's task: every task must be registered.
    dlq.set_defaults(handler=handle)
    jobs = commands.add_parser("jobs", help="recover jobs Redis lost", description=__doc__)
    jobs.formatter_class = argparse.RawDescriptionHelpFormatter
    requeue = jobs.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
        "requeue", help="enqueue again, under its own id, every job the history holds as queued"
    )
    requeue.add_argument(
        "--older-than",
        type=float,
        default=60,
        metavar="SECONDS",
        help="only jobs queued this long ago: a newer one may still be on its way to Redis",
    )
    jobs.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(run(settings, args))


async def run(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings)
    redis = create_redis(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await ACTIONS[args.action](session, Queue(redis, settings), args)
    except ServiceUnavailable as exc:
        return _fail(exc.detail)
    except Exception as exc:
        dependency = outage_of(exc)
        if dependency is None:
            raise
        return _fail(f"the {dependency} is unavailable: {exc}")
    finally:
        await redis.aclose()
        await engine.dispose()


async def _list(session: AsyncSession, _queue: Queue, args: argparse.Namespace) -> int:
    rows = await dead_letters.pending(session, limit=args.limit)
    print(f"{'JOB ID':32}  {'TASK':24}  TRIES  {'DIED AT':19}  ERROR")
    for row in rows:
        died = f"{row.finished_at:%Y-%m-%d %H:%M:%S}" if row.finished_at else "-"
        error = (row.error or "")[:ERROR_WIDTH]
        print(f"{row.job_id:32}  {row.task:24}  {row.attempts:5}  {died:19}  {error}")
    return 0


async def _show(session: AsyncSession, _queue: Queue, args: argparse.Namespace) -> int:
    record = await history.get(session, args.job_id)
    if record is None:
        return _fail(f"no job {args.job_id!r}")
    print(json.dumps(_as_dict(record), indent=2, default=str))
    return 0


async def _replay(session: AsyncSession, queue: Queue, args: argparse.Namespace) -> int:
    known = {task.name for task in registered_tasks()}
    if args.all:
        targets = [row.job_id for row in await dead_letters.pending(session)]
        await session.rollback()  # end the read, so each replay takes its own row lock
    else:
        targets = [args.job_id]
    refused = 0
    for job_id in targets:
        try:
            new_id = await dead_letters.replay(session, queue, job_id, known_tasks=known)
        except dead_letters.ReplayRefused as exc:
            await session.rollback()
            refused += _fail(str(exc))
            continue
        print(f"replayed {job_id} as {new_id}")
    return 1 if refused else 0


async def _purge(session: AsyncSession, _queue: Queue, args: argparse.Namespace) -> int:
    if not args.yes:
        dead = await dead_letters.count(session)
        return _fail(f"{dead} dead letters would be deleted; run again with --yes")
    deleted = await dead_letters.purge(session)
    await session.commit()
    print(f"deleted {deleted} dead letters")
    return 0


async def _requeue(session: AsyncSession, queue: Queue, args: argparse.Namespace) -> int:
    """Enqueue every job the history holds as `queued` again, under its own id.

    Redis can lose a job it took (writes a failover did not replicate, a Redis restarted without
    its data): its row stays `queued` and nothing runs it. For a job Redis still holds (waiting,
    or taken by a worker that has not yet claimed it) the enqueue is a no-op, so a job runs once.
    """
    queues = {task.name: task.queue for task in registered_tasks()}
    cutoff = history.utcnow() - timedelta(seconds=args.older_than)
    rows = (
        await session.execute(
            select(JobRecord.job_id, JobRecord.task, JobRecord.kwargs, JobRecord.request_id)
            .where(JobRecord.status == JobStatus.QUEUED, JobRecord.enqueued_at <= cutoff)
            .order_by(JobRecord.enqueued_at)
        )
    ).all()
    await session.rollback()  # end the read; each submit commits on its own
    requeued = refused = 0
    for job_id, task, kwargs, request_id in rows:
        if task not in queues:
            refused += _fail(f"job {job_id} runs task {task!r}, which no worker has now")
            continue
        message = Message(task=task, kwargs=dict(kwargs), queue=queues[task])
        submitted = await submit(session, queue, message, request_id=request_id, job_id=job_id)
        if submitted.created:
            requeued += 1
            print(f"requeued {job_id}")
    print(f"{requeued} of {len(rows)} queued jobs were missing from Redis and are queued again")
    return 1 if refused else 0


ACTIONS: dict[str, Action] = {
    "list": _list,
    "show": _show,
    "replay": _replay,
    "purge": _purge,
    "requeue": _requeue,
}


def _as_dict(record: JobRecord) -> dict[str, Any]:
    return {column.key: getattr(record, column.key) for column in JobRecord.__table__.columns}


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
