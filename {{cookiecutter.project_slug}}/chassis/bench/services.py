"""What the benchmarks run against: a private redis-server, a scratch Postgres database, and
child processes that are always stopped, on success, on error and on Ctrl-C.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
from redis import Redis
from sqlalchemy.engine import make_url

from harness.services import create_tables

# chassis/: the children run here; the sample service they serve is in chassis/tests.
CHASSIS_DIR = Path(__file__).resolve().parents[1]
TESTS_DIR = CHASSIS_DIR / "tests"

# Every child still running; the entry point stops them all whatever else went wrong.
_LIVE: set[subprocess.Popen[bytes]] = set()


class ServiceError(RuntimeError):
    """A service the benchmarks need did not start; the message says what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            fields[key] = int(value.split()[0])
    return fields


@contextmanager
def child(
    args: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    stop_timeout: float = 15,
    user: str | None = None,
) -> Iterator["subprocess.Popen[bytes]"]:
    """Run a process in a session of its own; on exit stop it and everything it started."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=CHASSIS_DIR,
            start_new_session=True,
            user=user,
        )
    _LIVE.add(process)
    try:
        yield process
    finally:
        stop(process, stop_timeout)


def stop(process: "subprocess.Popen[bytes]", timeout: float = 15) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Grandchildren (uvicorn's workers) share the group and must not outlive their parent.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    _LIVE.discard(process)


def stop_all() -> None:
    for process in list(_LIVE):
        stop(process, timeout=5)


@dataclass(frozen=True)
class PrivateRedis:
    url: str
    version: str


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    """A redis-server of our own on a free loopback port: no persistence, never evicts."""
    port = free_port()
    args = [
        "redis-server",
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--maxmemory-policy", "noeviction",
        "--dir", str(workdir),
    ]  # fmt: skip
    with child(args, log=workdir / "redis.log") as process:
        client = Redis(port=port)
        try:
            deadline = time.monotonic() + 10
            while True:
                if process.poll() is not None:
                    raise ServiceError(f"redis-server exited; see {workdir / 'redis.log'}")
                with suppress(Exception):
                    if client.ping():
                        break
                if time.monotonic() > deadline:
                    raise ServiceError("redis-server did not answer PING within 10 s")
                time.sleep(0.05)
            info = cast(dict[str, Any], client.info("server"))
            version = str(info["redis_version"])
        finally:
            client.close()
        yield PrivateRedis(url=f"redis://127.0.0.1:{port}/0", version=version)


def admin_dsn(database_url: str) -> str:
    """A plain asyncpg DSN to the server's maintenance database, for CREATE/DROP DATABASE."""
    url = make_url(database_url).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


def plain_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(dsn: str, statement: str) -> str:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return str(await connection.execute(statement))
    finally:
        await connection.close()


async def postgres_version(database_url: str) -> str:
    connection = await asyncpg.connect(plain_dsn(database_url), timeout=10)
    try:
        return str(await connection.fetchval("SHOW server_version")).split()[0]
    finally:
        await connection.close()


@contextmanager
def scratch_database(server_url: str, workdir: Path) -> Iterator[str]:
    """A new database on the given server with the sample's tables, dropped on the way out."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    server = make_url(server_url).set(drivername="postgresql+asyncpg")
    url = server.set(database=name).render_as_string(hide_password=False)
    shown = server.render_as_string(hide_password=True)
    try:
        try:
            asyncio.run(_execute(admin_dsn(url), f'CREATE DATABASE "{name}"'))
        except (OSError, asyncpg.PostgresError) as exc:
            raise ServiceError(f"cannot create a scratch database on {shown}: {exc}") from exc
        asyncio.run(create_tables(url))
        yield url
    finally:
        try:
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            asyncio.run(_execute(admin_dsn(url), drop))
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"could not drop the scratch database {name} on {shown}: {exc}", file=sys.stderr)
