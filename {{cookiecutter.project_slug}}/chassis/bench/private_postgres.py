"""A PostgreSQL server of the benchmarks' own, with pg_stat_statements loaded, so that the
statements a worker sends can be counted by the server without touching the configured one.

Started from the local server binaries (`pg_config --bindir`, else /usr/lib/postgresql/*/bin),
as the `postgres` user when the benchmarks run as root (initdb refuses root), on a free loopback
port with no Unix socket, in a temporary folder that is removed when it stops.
"""

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.services import ServiceError, child, free_port

START_TIMEOUT_SECONDS = 30
SERVER_USER = "postgres"


@dataclass(frozen=True)
class PrivatePostgres:
    url: str
    version: str


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<major>/bin: the newest major first.
    with suppress(ValueError):
        return (int(path.parent.name),)
    return (0,)


def server_binaries() -> Path:
    """The folder holding initdb and postgres, or ServiceError saying none was found."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    raise ServiceError("no PostgreSQL server binaries (initdb, postgres) on this machine")


def _server_user() -> str | None:
    """Who runs the server: the `postgres` user when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ServiceError(f"running as root and there is no {SERVER_USER!r} user") from None
    return SERVER_USER


async def _ready(url: str, deadline: float) -> str:
    while True:
        try:
            connection = await asyncpg.connect(url, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        try:
            return str(await connection.fetchval("SHOW server_version")).split()[0]
        finally:
            await connection.close()


@contextmanager
def private_postgres(workdir: Path) -> Iterator[PrivatePostgres]:
    """initdb, then postgres in the foreground as a child, stopped and deleted on the way out."""
    binaries, user = server_binaries(), _server_user()
    folder = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        data, log = folder / "data", workdir / "private-postgres.log"
        initdb = [
            str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--no-sync",
        ]  # fmt: skip
        with log.open("ab") as out:
            done = subprocess.run(
                initdb, stdout=out, stderr=subprocess.STDOUT, user=user, timeout=120, check=False
            )
        if done.returncode != 0:
            raise ServiceError(f"initdb failed; see {log}")
        port = free_port()
        server = [
            str(binaries / "postgres"), "-D", str(data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=",
            "-c", "shared_preload_libraries=pg_stat_statements",
            "-c", "pg_stat_statements.track_utility=on",
        ]  # fmt: skip
        with child(server, log=log, user=user) as process:
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            try:
                deadline = time.monotonic() + START_TIMEOUT_SECONDS
                version = asyncio.run(_ready(url, deadline))
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                state = "exited" if process.poll() is not None else "did not answer"
                raise ServiceError(f"the private postgres {state} ({exc}); see {log}") from exc
            yield PrivatePostgres(
                url=url.replace("postgresql:", "postgresql+asyncpg:"), version=version
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
