"""The baked project's alert rules pass promtool, and a real Prometheus (Debian's binary) scraping a
running web tier and worker fires the backlog alert once work piles up with no worker.

Under CI (the CI variable set) a missing promtool, prometheus or redis-server fails the run.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import yaml

from tests.conftest import DEFAULT_SLUG, Project

# Starts a real Prometheus, a baked web tier and worker: `bash scripts/test.sh --fast` leaves it out.
pytestmark = pytest.mark.slow

# Every metric the chassis defines starts with this, whatever the project is called.
PREFIX = "chassis"
# Queue series are labelled with the queue's short name; this worker serves the default queue.
QUEUE = "default"
# More than the QueueBacklogGrowing threshold (100) in the shipped rules.
BACKLOG = 120
# Generous: these only catch a hang, never a slow machine.
HANG_SECONDS = 90


def require(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is missing on a CI machine (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{binary} is not installed here (apt-get install prometheus redis-server)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except (OSError, urllib.error.URLError):
            pass  # not listening yet
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http only
        return json.load(response)


def post_json(url: str, body: dict[str, Any]) -> int:
    # POST /v1/reports demands an Idempotency-Key: a fresh one makes every request a new job.
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback http only
        return response.status


@dataclass
class Child:
    popen: subprocess.Popen[bytes]
    log: BinaryIO

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


@dataclass
class Processes:
    """Children started by one test, each logging to a file, all stopped when the stack closes."""

    logs: Path
    stack: ExitStack

    def start(
        self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Child:
        log = (self.logs / f"{name}.log").open("wb")
        child = Child(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       cwd=cwd), log)  # fmt: skip
        self.stack.callback(child.stop)
        return child

    def tails(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


def test_alert_rules_pass_promtool_check(project: Project) -> None:
    project.run(require("promtool"), "check", "rules", "deploy/prometheus/alerts.yml")


def test_alert_rules_pass_their_promtool_unit_tests(project: Project) -> None:
    project.run(require("promtool"), "test", "rules", "deploy/prometheus/alerts.test.yml")


def test_monitoring_files_carry_the_project_names(project: Project) -> None:
    folders = [project.path / "deploy/prometheus", project.path / "deploy/grafana"]
    leftovers = [
        path.name
        for folder in folders
        for path in folder.iterdir()
        if re.search(r"<(METRIC_PREFIX|PROJECT_SLUG|PROJECT_NAME)>", path.read_text())
    ]
    dashboard = json.loads((project.path / "deploy/grafana/dashboard.json").read_text())
    assert (leftovers, dashboard["title"]) == ([], "Acme Reports: queue, jobs and HTTP")


def fast_rules(source: Path) -> str:
    """The shipped rules with every `for:` at zero, so a test sees them fire within seconds."""
    return re.sub(r"^(\s*)for: \S+$", r"\1for: 0s", source.read_text(), flags=re.MULTILINE)


@dataclass
class Stack:
    prometheus: str
    web: str
    targets_up: dict[str, str]
    processes: Processes

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        result: list[dict[str, Any]] = get_json(url)["data"]["result"]
        return result

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        alerts = get_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


@pytest.fixture(scope="module")
def stack(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, web (two uvicorn processes), worker and Prometheus on loopback; then the worker stops
    and the web tier takes BACKLOG report requests that nobody works on."""
    prometheus, redis_server = require("prometheus"), require("redis-server")
    tmp = tmp_path_factory.mktemp("observability")
    ports = {name: free_port() for name in ("redis", "web", "worker", "prometheus")}
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_JSON": "true",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/app.db",
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(ports["web"]),
        "WEB_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "multiproc"),
        "WORKER_HTTP_PORT": str(ports["worker"]),
        "QUEUES": json.dumps({"default": {"drain_seconds": 0}, "scheduled": {"drain_seconds": 0}}),
        # The backlog is built by one client faster than the reports route's default quota allows.
        "RATE_LIMIT_ENABLED": "false",
    }
    cli = str(project.path / ".venv/bin" / DEFAULT_SLUG)
    (tmp / "rules.yml").write_text(fast_rules(project.path / "deploy/prometheus/alerts.yml"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [
            {"job_name": "web", "static_configs": [{"targets": [f"127.0.0.1:{ports['web']}"]}]},
            {"job_name": "worker", "static_configs": [{"targets": [f"127.0.0.1:{ports['worker']}"]}]},
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    web = f"http://127.0.0.1:{ports['web']}"
    prometheus_url = f"http://127.0.0.1:{ports['prometheus']}"

    with ExitStack() as stack:
        processes = Processes(logs=tmp, stack=stack)
        try:
            processes.start("redis", [redis_server, "--port", str(ports["redis"]), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no"])  # fmt: skip
            project.run(cli, "migrate", env=env)
            processes.start("web", [cli, "web"], env=env, cwd=project.path)
            worker = processes.start("worker", [cli, "worker"], env=env, cwd=project.path)
            processes.start("prometheus", [
                prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--log.level=warn",
            ])  # fmt: skip

            def both_up() -> dict[str, str] | None:
                active = get_json(f"{prometheus_url}/api/v1/targets")["data"]["activeTargets"]
                health = {t["labels"]["job"]: t["health"] for t in active}
                return health if health == {"web": "up", "worker": "up"} else None

            targets_up = wait_for(both_up, "Prometheus to scrape the web and worker targets")
            worker.stop()
            for n in range(BACKLOG):
                assert post_json(f"{web}/v1/reports", {"title": f"r{n}", "work_seconds": 0}) == 202
            yield Stack(prometheus_url, web, targets_up, processes)
        except BaseException:
            print(processes.tails())  # shown with the failing test's output
            raise


def test_prometheus_scrapes_the_web_and_worker_targets(stack: Stack) -> None:
    assert stack.targets_up == {"web": "up", "worker": "up"}


def test_backlog_alert_fires_when_work_piles_up_with_no_worker(stack: Stack) -> None:
    alerts = wait_for(lambda: stack.firing("QueueBacklogGrowing"), "QueueBacklogGrowing to fire")
    assert [a["labels"]["queue"] for a in alerts] == [QUEUE]


def test_ready_backlog_reaches_prometheus(stack: Stack) -> None:
    def backlog() -> float | None:
        result = stack.query(f"max({PREFIX}_queue_ready_jobs)")
        value = float(result[0]["value"][1]) if result else None
        return value if value == BACKLOG else None

    assert wait_for(backlog, f"a ready backlog of {BACKLOG}") == BACKLOG


def test_requests_add_up_across_web_processes(stack: Stack) -> None:
    promql = f'sum({PREFIX}_http_requests_total{{route="/v1/reports", status="202"}})'

    def total() -> float | None:
        result = stack.query(promql)
        value = float(result[0]["value"][1]) if result else None
        return value if value == BACKLOG else None

    assert wait_for(total, f"{BACKLOG} report requests counted") == BACKLOG
