"""The sample service run as a team runs its own, for the fault tests: `web` and `worker` as child
processes with the shipped defaults, a steady trickle of note requests, and the jobs' final states.
"""

import asyncio
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from harness.processes import CLI, eventually, free_port, running
from harness.processes import service_env as _service_env
from harness.services import create_tables
from sample.settings import Settings

FINAL_STATUSES = frozenset({"complete", "failed", "dead"})
PROBLEM_JSON = "application/problem+json"
# The only settings a fault test gives its processes; every other one keeps its default.
CHOSEN_SETTINGS = frozenset(
    {"ENVIRONMENT", "DATABASE_URL", "REDIS_URL", "QUEUE_PREFIX", "LOG_JSON"}
    # QUEUES only for its drain time (0): the shipped queues with their shipped sizes otherwise.
    | {"QUEUES", "WORKER_HTTP_HOST", "WORKER_HTTP_PORT", "WEB_HOST", "WEB_PORT"}
)


def product_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """`service_env` without any other setting inherited from the shell: the shipped defaults,
    except where the services are, the ports, the log format and the drain time.
    """
    env = _service_env(settings, **overrides)
    setting_names = {name.upper() for name in Settings.model_fields}
    keep = CHOSEN_SETTINGS | set(overrides)
    return {key: value for key, value in env.items() if key not in setting_names or key in keep}


async def create_schema(env: dict[str, str]) -> None:
    """The tables, in the database `env` names, reached as the service reaches it."""
    await create_tables(env["DATABASE_URL"], pgbouncer=env.get("DATABASE_PGBOUNCER") == "true")


@dataclass
class Service:
    """A child process answering HTTP on `base_url`."""

    process: "subprocess.Popen[bytes]"
    base_url: str
    log_path: Path

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.get(path, timeout=2)

    async def wait_until_live(self) -> None:
        async def live() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.base_url} exited early ({self.process.returncode})")
            try:
                return (await self.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(live, f"/healthz on {self.base_url}")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, text: str) -> None:
        async def logged() -> bool:
            return text in self.log()

        await eventually(logged, f"{text!r} in the log of {self.base_url}")

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def wait_for_exit(self) -> int:
        async def exited() -> bool:
            return self.process.poll() is not None

        await eventually(exited, f"{self.base_url} to exit")
        return self.process.returncode

    def errors(self) -> list[str]:
        """The log lines at error level so far: an unhandled exception, with its traceback."""
        lines = self.log().splitlines()
        return [
            line for line in lines if '"level": "error"' in line or '"level": "critical"' in line
        ]


@contextmanager
def web(env: dict[str, str]) -> Iterator[Service]:
    """`sample web`, as a team runs its web tier, on a free loopback port."""
    port = free_port()
    web_env = {**env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port)}
    with _logged([*CLI, "web"], web_env) as (process, log_path):
        yield Service(process, f"http://127.0.0.1:{port}", log_path)


@contextmanager
def worker(env: dict[str, str], queue: str = "default") -> Iterator[Service]:
    """`sample worker --queue QUEUE`, as a team runs its worker, with its probes on a free port."""
    port = free_port()
    worker_env = {**env, "WORKER_HTTP_HOST": "127.0.0.1", "WORKER_HTTP_PORT": str(port)}
    with _logged([*CLI, "worker", "--queue", queue], worker_env) as (process, log_path):
        yield Service(process, f"http://127.0.0.1:{port}", log_path)


@contextmanager
def _logged(
    command: list[str], env: dict[str, str]
) -> Iterator[tuple["subprocess.Popen[bytes]", Path]]:
    """`command` with its output in a file that the test can read as it is written."""
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "output.log"
        with (
            log_path.open("wb") as output,
            running(command, env={**env, "PYTHONUNBUFFERED": "1"}, output=output) as [process],
        ):
            yield process, log_path


async def post_note(http: httpx.AsyncClient, work_seconds: float) -> httpx.Response:
    return await http.post(
        "/v1/notes",
        json={"title": "Fault", "work_seconds": work_seconds},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


@dataclass(frozen=True)
class Answer:
    phase: str
    status: int  # 0 when no HTTP answer came at all
    content_type: str
    job_id: str | None
    detail: str


@dataclass
class Trickle:
    """POST a note every `interval` seconds, each in a task of its own, until the block ends.

    Each answer is tagged with the phase (`before`, `during`, `after`) it was sent in.
    """

    http: httpx.AsyncClient
    work_seconds: float
    interval: float = 0.2
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    _posts: set["asyncio.Task[None]"] = field(default_factory=set)
    _stopping: bool = False
    _loop: "asyncio.Task[None] | None" = None

    async def __aenter__(self) -> "Trickle":
        self._loop = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping = True
        if self._loop is not None:
            await self._loop
        await asyncio.gather(*self._posts, return_exceptions=True)

    def accepted(self, phase: str | None = None) -> list[str]:
        return [
            a.job_id
            for a in self.answers
            if a.job_id is not None and (phase is None or a.phase == phase)
        ]

    async def _run(self) -> None:
        while not self._stopping:
            post = asyncio.create_task(self._post(self.phase))
            self._posts.add(post)
            post.add_done_callback(self._posts.discard)
            await asyncio.sleep(self.interval)

    async def _post(self, phase: str) -> None:
        try:
            response = await post_note(self.http, self.work_seconds)
        except httpx.HTTPError as exc:
            self.answers.append(Answer(phase, 0, "", None, repr(exc)))
            return
        job_id = response.json()["job_id"] if response.status_code == 202 else None
        content_type = response.headers.get("content-type", "")
        self.answers.append(
            Answer(phase, response.status_code, content_type, job_id, response.text)
        )


def unexpected_answers(answers: list[Answer]) -> list[tuple[str, int, str, str]]:
    """Answers that are neither an accepted job (202) nor a 503 problem: what an outage must not give."""
    return [
        (a.phase, a.status, a.content_type, a.detail[:200])
        for a in answers
        if not (a.status == 202 or (a.status == 503 and a.content_type == PROBLEM_JSON))
    ]


def not_complete(statuses: dict[str, str]) -> dict[str, str]:
    return {job_id: status for job_id, status in statuses.items() if status != "complete"}


def unfinished_summary(unfinished: dict[str, str], accepted: int, worker_errors: list[str]) -> str:
    """How many accepted jobs did not finish, and what the worker logged at error level."""
    return "\n".join([f"{len(unfinished)} of {accepted} jobs", *worker_errors])


async def job_status(http: httpx.AsyncClient, job_id: str) -> str:
    """`status` from `GET /v1/jobs/{id}`, or `http <code>` when it does not answer 200."""
    try:
        response = await http.get(f"/v1/jobs/{job_id}", timeout=5)
    except httpx.HTTPError as exc:
        return f"no answer: {exc!r}"
    if response.status_code != 200:
        return f"http {response.status_code}"
    body: dict[str, Any] = response.json()
    return str(body["status"])


async def statuses_by(
    http: httpx.AsyncClient, job_ids: list[str], done: frozenset[str], within: float
) -> dict[str, str]:
    """Poll each job's status until all are in `done` or `within` seconds pass; the last read."""
    deadline = time.monotonic() + within
    last: dict[str, str] = {}
    pending = list(job_ids)
    while True:
        for job_id in pending:
            last[job_id] = await job_status(http, job_id)
        pending = [job_id for job_id in pending if last[job_id] not in done]
        if not pending or time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.2)
