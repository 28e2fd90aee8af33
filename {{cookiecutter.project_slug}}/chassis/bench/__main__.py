"""Run every benchmark and print absolute numbers, same-run ratios and the machine they ran on.

PYTHONPATH=tests uv run python -m bench [--quick]     (in chassis/; `make bench` does this)

Needs wrk, redis-server and a Postgres server (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else a
Postgres DATABASE_URL). Starts its own redis-server and creates a scratch database; both go away
at the end, as does every process it started, also on Ctrl-C.
"""

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

from bench import machine, progress, statements, web, workers
from bench import tracing as tracing_costs
from bench.context import BenchContext
from bench.report import Rendered, Target, summary
from bench.services import (
    ServiceError,
    postgres_version,
    private_redis,
    scratch_database,
    stop_all,
)

DATABASE_URL_VARIABLES = ("BENCH_DATABASE_URL", "TEST_DATABASE_URL", "DATABASE_URL")
INSTALL_HINTS = {
    "wrk": "the HTTP load generator: apt-get install wrk (Debian, Ubuntu) or brew install wrk",
    "redis-server": "apt-get install redis-server (Debian, Ubuntu) or brew install redis",
}


def database_server_url() -> str | None:
    for variable in DATABASE_URL_VARIABLES:
        url = os.environ.get(variable, "")
        if url.startswith("postgresql"):
            return url
    return None


def needs(only: str | None) -> set[str]:
    """The tools the chosen groups run: only the enqueue path loads a server with wrk."""
    return {"redis-server"} | ({"wrk"} if only in (None, "enqueue") else set())


def missing(only: str | None) -> list[str]:
    """Everything the chosen benchmarks need and cannot find, each with what to do about it."""
    tools = {tool: hint for tool, hint in INSTALL_HINTS.items() if tool in needs(only)}
    problems = [
        f"{tool} is not on PATH: {hint}" for tool, hint in tools.items() if not shutil.which(tool)
    ]
    if database_server_url() is None:
        problems.append(
            "no Postgres server: export BENCH_DATABASE_URL=postgresql+asyncpg://USER@HOST:5432/postgres "
            "(a scratch database is created there and dropped at the end)"
        )
    return problems


# Each group of benchmarks: its name for --only, and what measures it and renders the results.
GROUPS: dict[str, Callable[[BenchContext], Awaitable[Rendered]]] = {
    "enqueue": web.measure,
    "worker": workers.measure,
    "postgres": statements.measure,
    "tracing": tracing_costs.measure,
}


async def run_all(ctx: BenchContext, description: str, only: str | None) -> None:
    started = time.monotonic()
    sections: list[str] = []
    targets: list[Target] = []
    for name, measure in GROUPS.items():
        if only in (None, name):
            lines, found = await measure(ctx)
            sections += lines
            targets += found
    print(f"\nMachine: {description}\n")
    print("\n\n".join(sections))
    print("\nTargets (figures from this run; nothing fails on them):")
    print("\n".join(target.render() for target in targets))
    print(summary(targets))
    print(f"\nTotal time {time.monotonic() - started:.0f} s.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher numbers")
    parser.add_argument("--only", choices=list(GROUPS), help="run one group of benchmarks")
    args = parser.parse_args(argv)
    if problems := missing(args.only):
        print("make bench cannot run yet:", *problems, sep="\n  ", file=sys.stderr)
        return 2
    # SIGTERM cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    server_url = database_server_url()
    assert server_url is not None
    try:
        with ExitStack() as stack:
            try:
                progress("starting a private redis-server and a scratch database")
                redis = stack.enter_context(private_redis(workdir))
                database_url = stack.enter_context(scratch_database(server_url, workdir))
                description = machine.describe(
                    redis_version=redis.version,
                    postgres_version=asyncio.run(postgres_version(database_url)),
                )
                ctx = BenchContext(database_url, redis, workdir, quick=args.quick)
                asyncio.run(run_all(ctx, description, args.only))
            finally:
                # Clean-up must finish even if Ctrl-C is pressed again.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                stop_all()
    except KeyboardInterrupt:
        shutil.rmtree(workdir, ignore_errors=True)
        print("\ninterrupted; every process and the scratch database were removed", file=sys.stderr)
        return 130
    except ServiceError as exc:
        print(f"\nerror: {exc}\n(logs of every process are kept in {workdir})", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
