"""`{{ cookiecutter.project_slug }} digest run [--period START/END]`: send a digest now (backfills, tests).

Prints one JSON line: the period, whether this run sent it, and the counts it sent.
"""

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from chassis.settings import Settings

from {{ cookiecutter.package_name }}.digests.period import Period


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add `digest run` to the project's command (argparse's subparser type is private)."""
    digest = commands.add_parser("digest", help="send cron digests by hand")
    actions = digest.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="send a period's digest now, unless it was sent")
    run.add_argument(
        "--period",
        type=Period.parse,
        help="START/END in ISO 8601, UTC unless an offset is given "
        "(default: everything since the last digest sent, up to the latest scheduled time)",
    )
    run.set_defaults(handler=_run)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    result = asyncio.run(_send(settings, args.period))
    print(json.dumps(result))
    return 0


async def _send(settings: Settings, period: Period | None) -> dict[str, Any]:
    # Imported here: the CLI must not load the metrics library before `web` sets up its
    # multi-process directory (see core/metrics.py).
    from chassis.core import configure_logging, create_engine, create_session_factory
    from chassis.jobs import Schedule

    from {{ cookiecutter.package_name }}.digests import service, tasks
    from {{ cookiecutter.package_name }}.digests.notifiers import build_notifier
    from {{ cookiecutter.package_name }}.digests.settings import get_digest_settings

    configure_logging(json=settings.json_logs, level=settings.log_level)
    digest_settings = get_digest_settings()
    engine = create_engine(settings)
    try:
        sessions = create_session_factory(engine)
        if period is None:
            latest = Schedule.parse(digest_settings.schedule).latest_at_or_before(datetime.now(UTC))
            digest = await tasks.send_due(digest_settings, sessions, latest)
        else:
            digest = await service.send_once(sessions, build_notifier(digest_settings), period)
    finally:
        await engine.dispose()
    sent = digest.period if digest else period
    counts = digest.counts() if digest else {}
    return {
        "digest": service.ACTIVITY,
        "period": str(sent) if sent else None,
        "sent": digest is not None,
        **counts,
    }
