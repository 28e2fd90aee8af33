"""One worker process under test: our jobs layer, or a plain arq Worker as its CLI would run it.

python -m bench.worker_child {ours,arq} --max-jobs N --poll-delay S [--burst]
"""

import argparse
import asyncio
import logging.config

from arq import Worker, func
from arq.connections import RedisSettings
from arq.logs import default_log_config

from bench import ours, tasks
from sample.settings import Settings


def our_worker(settings: Settings, args: argparse.Namespace) -> Worker:
    return ours.build(
        settings, max_jobs=args.max_jobs, poll_delay=args.poll_delay, burst=args.burst
    )


def plain(settings: Settings, args: argparse.Namespace) -> Worker:
    # What `arq WorkerSettings` does: its own log set-up at INFO, a line per job start and end.
    logging.config.dictConfig(default_log_config(verbose=False))
    return Worker(
        functions=[func(function, name=name) for name, function in tasks.PLAIN.items()],
        queue_name=ours.queue_key(settings),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        max_jobs=args.max_jobs,
        poll_delay=args.poll_delay,
        burst=args.burst,
        handle_signals=not args.burst,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("layer", choices=["ours", "arq"])
    parser.add_argument("--max-jobs", type=int, required=True)
    parser.add_argument("--poll-delay", type=float, required=True)
    parser.add_argument("--burst", action="store_true", help="run what is queued, then exit")
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    # arq's Worker looks up the current event loop when it is built.
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = our_worker(settings, args) if args.layer == "ours" else plain(settings, args)
    worker.run()


if __name__ == "__main__":
    main()
