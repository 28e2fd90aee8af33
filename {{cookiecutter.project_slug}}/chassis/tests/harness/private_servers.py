"""A Postgres and a Redis of the test's own, which a fault test may stop and start again, and a
PgBouncer in front of a Postgres.

The shared servers behind the other tests are never stopped. These run on free loopback ports,
keep their data in a temporary directory, and are stopped by PID whatever the test did.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis
from sqlalchemy.engine import make_url

from harness.processes import WAIT_SECONDS, free_port

# Debian keeps the server binaries off PATH, one directory per major version.
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _postgres_bin() -> Path:
    for candidate in sorted(glob.glob(POSTGRES_BIN_GLOB), reverse=True):
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    found = shutil.which("initdb")
    if found is None:
        raise AssertionError(
            f"no initdb in {POSTGRES_BIN_GLOB} or on PATH; the Postgres fault tests need the "
            "Postgres server package (Debian: postgresql)"
        )
    return Path(found).parent


class PrivatePostgres:
    """`initdb` + `pg_ctl` in a temporary directory; trust auth on 127.0.0.1 only.

    Run as root, the server runs as the `postgres` user, which owns the directory (Postgres
    refuses to run as root).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self._bin = _postgres_bin()
        self._as_postgres = os.geteuid() == 0
        # Under /tmp, not pytest's tmp_path: that one is private to root, and socket paths
        # must stay short.
        self.dir = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        if self._as_postgres:
            shutil.chown(self.dir, user="postgres", group="postgres")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # pg_ctl sends the server's own output to the log file, so nothing holds these pipes.
        done = subprocess.run(
            command, cwd=self.dir, capture_output=True, text=True, timeout=WAIT_SECONDS
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}\n{self._log_tail()}"
            )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        # Durability settings stay at their defaults: a fast stop then takes as long as a real
        # server's shutdown checkpoint, and refuses connections ("shutting down") meanwhile.
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir}"
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(int(WAIT_SECONDS)), "-o", options)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w",
                  "-t", str(int(WAIT_SECONDS)))  # fmt: skip

    def cleanup(self) -> None:
        """Stop the server however it is, then remove its directory."""
        pid = self._postmaster_pid()
        if pid is not None:
            with suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
            pid = self._postmaster_pid()
            if pid is not None and _alive(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _postmaster_pid(self) -> int | None:
        try:
            first_line = (self.data / "postmaster.pid").read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        return int(first_line)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except FileNotFoundError:
            return ""


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()


class PrivateRedis:
    """A redis-server with an append-only file, as a Redis that must not lose jobs runs.

    Stopped (SIGTERM: Redis's own clean shutdown) and started again on the same port and data
    directory, it comes back with what it held: the outage loses connections, not data.
    """

    def __init__(self, data_dir: Path, *, replica_of: int | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.replica_of = replica_of
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is not on PATH; the Redis fault tests need it")
        options = [
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        if self.replica_of is not None:
            options += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        with (self.data_dir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary, *options], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.answers():
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server exited; see {self.data_dir / 'redis.log'}")
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, which Redis handles as SHUTDOWN, and wait until it has exited."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=WAIT_SECONDS)
        self.process = None

    def cleanup(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def answers(self) -> bool:
        """PING succeeds: up, and done loading its data."""
        try:
            with redis.Redis(port=self.port, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.ConnectionError:  # includes BusyLoadingError while it loads the AOF
            return False


@contextmanager
def private_redis(data_dir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(data_dir)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


class PrivateSentinels:
    """A primary and its replica (each a `PrivateRedis`, AOF on) watched by three redis-sentinels.

    Every server is on a free loopback port with its files under `data_dir`. The sentinels agree
    (quorum 2) that a primary is down after 1 s without an answer and then promote the replica.
    """

    MASTER = "mymaster"
    DOWN_AFTER_MS = 1000
    FAILOVER_TIMEOUT_MS = 3000

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise AssertionError("redis-sentinel is not on PATH (Debian: redis-sentinel)")
        self._binary = binary
        self.dir = data_dir
        (data_dir / "a").mkdir()
        (data_dir / "b").mkdir()
        first = PrivateRedis(data_dir / "a")
        self.nodes = [first, PrivateRedis(data_dir / "b", replica_of=first.port)]
        self.ports = [free_port() for _ in range(3)]
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", port) for port in self.ports]

    @property
    def addresses(self) -> str:
        """REDIS_SENTINELS for the service."""
        return ",".join(f"{host}:{port}" for host, port in self.sentinels)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        primary = self.nodes[0].port
        for port in self.ports:
            config = self.dir / f"sentinel-{port}.conf"  # the sentinel rewrites it as it learns
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {self.MASTER} {self.DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {self.MASTER} {self.FAILOVER_TIMEOUT_MS}\n"
            )
            with (self.dir / f"sentinel-{port}.log").open("ab") as log:
                self._sentinels.append(
                    subprocess.Popen([self._binary, str(config)], stdout=log, stderr=log)
                )
        self.wait_until(
            lambda: self.ready(primary), "the sentinels to see the replica and each other"
        )

    def primary(self) -> int | None:
        """The port every sentinel names as the primary, or None while they disagree or cannot."""
        named = set()
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=1) as sentinel:
                    address = sentinel.sentinel_get_master_addr_by_name(self.MASTER)
            except redis.ConnectionError:
                return None
            named.add(int(address[1]) if address else None)
        return named.pop() if len(named) == 1 else None

    def node(self, port: int) -> PrivateRedis:
        return next(node for node in self.nodes if node.port == port)

    def ready(self, primary: int) -> bool:
        """Every sentinel names `primary`, knows the other sentinels and a replica that is in sync."""
        if self.primary() != primary:
            return False
        for port in self.ports:
            with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as sentinel:
                state = sentinel.sentinel_master(self.MASTER)
                replicas = sentinel.sentinel_slaves(self.MASTER)
            if state["num-other-sentinels"] < len(self.ports) - 1:
                return False
            if not any(r["master-link-status"] == "ok" and not r["is_sdown"] for r in replicas):
                return False
        return True

    def failover(self) -> None:
        """`SENTINEL FAILOVER`: a planned switch, the primary still up."""
        with redis.Redis(port=self.ports[0], socket_timeout=1) as sentinel:
            sentinel.execute_command("SENTINEL FAILOVER", self.MASTER)

    def crash_primary(self) -> int:
        """SIGKILL the primary, as a crashed machine stops; its port."""
        port = self.primary()
        assert port is not None, "the sentinels name no primary"
        self.node(port).cleanup()
        return port

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; logs in {self.dir}")
            time.sleep(0.1)

    def cleanup(self) -> None:
        for process in self._sentinels:
            process.kill()
            process.wait()
        for node in self.nodes:
            node.cleanup()


@contextmanager
def private_sentinels(data_dir: Path) -> Iterator[PrivateSentinels]:
    servers = PrivateSentinels(data_dir)
    try:
        servers.start()
        yield servers
    finally:
        servers.cleanup()


class PrivatePgBouncer:
    """Debian's pgbouncer in transaction mode, on a free loopback port, in front of `server_url`.

    Every database name is passed through to that server; clients are trusted (the server's own
    credentials, if any, are in the config). Run as root, it runs as `postgres` (pgbouncer
    refuses root).
    """

    def __init__(self, server_url: str, pool_size: int) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).is_file():
            raise AssertionError("no pgbouncer on PATH or in /usr/sbin (Debian: pgbouncer)")
        self._command = [binary]
        if os.geteuid() == 0:
            self._command = ["runuser", "-u", "postgres", "--", binary]
        self._server = make_url(server_url)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.log = self.dir / "pgbouncer.log"
        self.pid_file = self.dir / "pgbouncer.pid"
        self._pool_size = pool_size
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        """`server_url`'s credentials and `database`, through pgbouncer."""
        url = self._server.set(host="127.0.0.1", port=self.port, database=database)
        return url.render_as_string(hide_password=False)

    def start(self) -> None:
        server = self._server
        target = f"host={server.host or '127.0.0.1'} port={server.port or 5432}"
        if server.password:
            target += f" user={server.username} password={server.password}"
        user = server.username or "postgres"
        config = f"""
[databases]
* = {target}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
pool_mode = transaction
default_pool_size = {self._pool_size}
max_client_conn = 200
auth_type = trust
auth_file = {self.dir / "users.txt"}
logfile = {self.log}
pidfile = {self.pid_file}
"""
        (self.dir / "users.txt").write_text(f'"{user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(config)
        if os.geteuid() == 0:
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, user="postgres", group="postgres")
        self.process = subprocess.Popen(
            [*self._command, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while not self._listening():
            if self.process.poll() is not None:
                raise AssertionError(f"pgbouncer exited:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not listen on {self.port}")
            time.sleep(0.02)

    def cleanup(self) -> None:
        """SIGTERM pgbouncer by its PID (under runuser), then remove its directory."""
        with suppress(FileNotFoundError, ValueError):
            pid = int(self.pid_file.read_text().split()[0])
            if _alive(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                _wait_gone(pid)
        if self.process is not None:
            if self.process.poll() is None and not self.pid_file.exists():
                self.process.terminate()  # it never got as far as its pid file
            try:
                self.process.wait(timeout=WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0


@contextmanager
def private_pgbouncer(server_url: str, pool_size: int = 4) -> Iterator[PrivatePgBouncer]:
    bouncer = PrivatePgBouncer(server_url, pool_size)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.cleanup()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
