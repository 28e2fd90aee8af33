"""`{{ cookiecutter.project_slug }} dlq`: list, inspect, replay and purge dead letters.

{{ cookiecutter.project_slug }} dlq list [--limit N]     dead letters not yet replayed, newest first
{{ cookiecutter.project_slug }} dlq show JOB_ID          one job's history record, as JSON
{{ cookiecutter.project_slug }} dlq replay JOB_ID        enqueue it again under a new job id
{{ cookiecutter.project_slug }} dlq replay --all         replay every pending dead letter
{{ cookiecutter.project_slug }} dlq purge --yes          delete every dead letter
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.core.errors import ServiceUnavailable
from {{ cookiecutter.package_name }}.core.redis import create_redis
from {{ cookiecutter.package_name }}.jobs import Queue, dead_letters, history, registered_tasks
from {{ cookiecutter.package_name }}.jobs.models import JobRecord
from {{ cookiecutter.package_name }}.jobs.retry import is_outage

Action = Callable[[AsyncSession, Queue, argparse.Namespace], Awaitable[int]]
ERROR_WIDTH = 60


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
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
    dlq.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(run(settings, args))


async def run(settings: Settings, args: argparse.Namespace) -> int:
    # The worker module imports every task module, so replay knows which tasks exist.
    from {{ cookiecutter.package_name }} import worker  # noqa: F401

    engine = create_engine(settings)
    redis = create_redis(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await ACTIONS[args.action](session, Queue(redis, settings), args)
    except ServiceUnavailable as exc:
        return _fail(exc.detail)
    except Exception as exc:
        if not is_outage(exc):
            raise
        return _fail(f"a dependency is unavailable: {exc}")
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


ACTIONS: dict[str, Action] = {"list": _list, "show": _show, "replay": _replay, "purge": _purge}


def _as_dict(record: JobRecord) -> dict[str, Any]:
    return {column.key: getattr(record, column.key) for column in JobRecord.__table__.columns}


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
