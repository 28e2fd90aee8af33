"""The generated README and docs/ as a newcomer meets them.

- The README's first commands work as printed: `make install`, `make dev`, the curl examples, and a
  Ctrl-C that stops everything and leaves `make dev` with status 0. `make dev` runs in a
  pseudo-terminal, as in a shell, so Ctrl-C is the terminal's own SIGINT to the foreground job.
  The liberties taken: the web port, since another suite on this machine may hold 8000, and the
  job id the README tells the reader to put in the status URL.
- The README stays short, every relative link in it and in docs/ leads to a file (and heading) of
  the bake, the pages keep no record of a machine, and their cookiecutter conditionals are whole
  lines about compose or Helm.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE, Bake, Project, combination_id

# Generous bounds on a busy machine; each wait ends as soon as its condition holds.
START_SECONDS = 240.0
STOP_SECONDS = 60.0


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_run(length: int) -> int:
    """The first of `length` consecutive ports that are all free on every address.

    `make dev` gives its workers' probes WORKER_HTTP_PORT, +1, ... (one per queue), binding
    0.0.0.0: a port free alone can have a neighbour in use by some connection's ephemeral port.
    """
    while True:
        first = free_port()
        try:
            for port in range(first, first + length):
                with closing(socket.socket()) as sock:
                    sock.bind(("0.0.0.0", port))  # noqa: S104  # what the probe servers bind
        except OSError:
            continue
        return first


def console_commands(readme: str, section: str) -> list[str]:
    """The `$ ` commands of a README section's console blocks, continuation lines joined."""
    text = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", text, re.DOTALL):
        pending: str | None = None
        for line in block.splitlines():
            if pending is not None:
                pending += "\n" + line
            elif line.startswith("$ "):
                pending = line[2:]
            if pending is not None and not pending.endswith("\\"):
                commands.append(pending)
                pending = None
    return commands


@contextmanager
def redis_server() -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not on PATH (Debian: apt-get install redis-server)", pytrace=False)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STOP_SECONDS
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=STOP_SECONDS)


class Terminal:
    """A command running in a pseudo-terminal of its own, as a shell's foreground job."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a new session whose controlling terminal is the pty
            os.chdir(cwd)
            os.execvpe(args[0], args, env)  # noqa: S606 - a fixed command of this test
        self.output = b""
        self.status: int | None = None

    def read(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def poll(self) -> int | None:
        self.read()
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def wait(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while (status := self.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {seconds} s:\n{self.text()}")
            time.sleep(0.1)
        return status

    def text(self) -> str:
        return self.output.decode(errors="replace")[-6000:]

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http only
        result: dict[str, object] = json.load(response)
        return result


def wait_until_ready(base: str, dev: Terminal) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if dev.poll() is not None:
            raise AssertionError(f"make dev exited early with {dev.status}:\n{dev.text()}")
        try:
            get_json(f"{base}/readyz")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready after {START_SECONDS} s:\n{dev.text()}") from None
            time.sleep(0.2)


@pytest.mark.slow
def test_quick_start_works_as_printed(bake: Bake) -> None:
    project: Project = bake()
    readme = (project.path / "README.md").read_text()
    commands = console_commands(readme, "Run it")
    assert [command.split("#")[0].strip() for command in commands[:2]] == ["make install", "make dev"]
    assert len(commands) == 5 and "/v1/jobs/5f0c…" in commands[4], commands
    project.run("bash", "-c", commands[0])

    port = free_port()
    with redis_server() as redis_port:
        env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "DATABASE_URL"}}
        env.update(
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            WEB_PORT=str(port),
            # One probe port per queue: the project ships two (default, scheduled).
            WORKER_HTTP_PORT=str(free_port_run(2)),
            WORKER_DRAIN_SECONDS="5",
        )
        dev = Terminal(["make", "dev"], project.path, env)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base, dev)
            # The two commands that submit a report, in one shell, exactly as printed but the port.
            submit = "\n".join(commands[2:4]).replace("localhost:8000", f"localhost:{port}")
            answer = subprocess.run(
                ["bash", "-c", submit], cwd=project.path, env=env, capture_output=True, text=True, timeout=120
            )
            location = re.search(r"^location: (\S+)", answer.stdout, re.MULTILINE | re.IGNORECASE)
            assert ("202 Accepted" in answer.stdout, location is not None) == (True, True), answer
            assert location is not None
            # The status command as printed, with the job id the reader puts in: until "complete".
            status_command = commands[4].replace("localhost:8000", f"localhost:{port}")
            status_command = status_command.replace("/v1/jobs/5f0c…", location.group(1))
            deadline = time.monotonic() + START_SECONDS
            while True:
                shown = subprocess.run(
                    ["bash", "-c", status_command],
                    cwd=project.path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                job = json.loads(shown.stdout)
                if job["status"] == "complete":
                    break
                assert time.monotonic() < deadline and job["status"] not in {"dead", "failed"}, job
                time.sleep(0.2)
            dev.ctrl_c()
            status = dev.wait(STOP_SECONDS)
        finally:
            dev.kill()
    assert (status, "Error" in dev.text()) == (0, False), dev.text()


# --- what the pages say, and where they point ----------------------------------------------------

README_MAX_LINES = 250
DEPLOY_OPTIONS = [
    {"use_compose": compose, "use_helm": helm} for compose in (True, False) for helm in (True, False)
]
GENERATED = TEMPLATE / "{{cookiecutter.project_slug}}"
# The reference, one page per topic; the README links each.
DOC_PAGES = [
    "configuration.md", "cron.md", "deploy.md", "http-api.md", "jobs-and-queues.md", "observability.md",
    "rate-limits-and-idempotency.md", "reliability.md", "scaling.md", "updating.md",
]  # fmt: skip
# A Markdown link or image whose target is not a URL: `[text](target)` or `[text](target#anchor)`.
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)\)")
# The record of a verification belongs in the template's README, never in a generated page.
MACHINE_RECORD = re.compile(
    r"measured here|tried here|runs here|on this machine|on a .{0,20}-core machine|no Docker engine"
    r"|was available|\b\d+ tests in \d|test_recipes",
    re.IGNORECASE,
)
CONDITIONAL = re.compile(
    r"^\{%- (if cookiecutter\.use_(compose|helm)( (and|or) cookiecutter\.use_(compose|helm))*|else|endif) %\}$"
)


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "chassis" / "README.md"]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def broken_links(root: Path) -> list[str]:
    broken = []
    for page in pages(root):
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        for match in LINK.finditer(text):
            target = match["target"]
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:: not a file of the bake
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(root)}: {target}")
            elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                broken.append(f"{page.relative_to(root)}: {target} (no such heading)")
    return broken


@pytest.mark.parametrize("answers", DEPLOY_OPTIONS, ids=combination_id)
def test_readme_is_at_most_250_lines(bake: Bake, answers: dict[str, object]) -> None:
    lines = (bake(**answers).path / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)


@pytest.mark.parametrize("answers", DEPLOY_OPTIONS, ids=combination_id)
def test_every_relative_link_leads_to_a_file_of_the_bake(bake: Bake, answers: dict[str, object]) -> None:
    root = bake(**answers).path
    assert (sorted(path.name for path in (root / "docs").glob("*.md")), broken_links(root)) == (DOC_PAGES, [])


def test_docs_keep_no_record_of_a_machine() -> None:
    found = [
        f"{page.relative_to(GENERATED)}: {match.group(0)!r}"
        for page in pages(GENERATED)
        for match in MACHINE_RECORD.finditer(page.read_text())
    ]
    assert found == []


def test_docs_conditionals_are_whole_lines_about_deploy_files() -> None:
    loose = [
        f"{page.relative_to(GENERATED)}:{number}: {line}"
        for page in pages(GENERATED)
        for number, line in enumerate(page.read_text().splitlines(), 1)
        if ("{%" in line or "%}" in line) and not CONDITIONAL.match(line)
    ]
    assert loose == []


def test_the_chassis_readme_has_no_cookiecutter_syntax() -> None:
    text = (GENERATED / "chassis" / "README.md").read_text()
    assert ("{{" in text, "{%" in text) == (False, False)
