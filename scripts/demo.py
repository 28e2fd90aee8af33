"""Bake the default project, run its web tier and worker, submit a report and watch it complete.

Every process it starts is stopped on the way out, whatever happens.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack, closing
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
SUPPORTED_PYTHONS = {"3.11", "3.12", "3.13"}


class DemoError(Exception):
    """A failure the user can act on; the message says what to do."""


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, *, show: bool = False) -> None:
    """Run a step; `show` lets its own progress output through (long downloads)."""
    if show:
        if subprocess.run(args, cwd=cwd, env=env).returncode != 0:
            raise DemoError(f"`{' '.join(args)}` failed in {cwd} (its output is above)")
        return
    completed = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()[-3000:]
        raise DemoError(f"`{' '.join(args)}` failed in {cwd}:\n{output}")


def start(args: list[str], cwd: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes], name: str, grace: float = 30) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"    {name} did not stop within {grace:.0f} s; killing it", flush=True)
        process.kill()
        process.wait()


def http(
    method: str, url: str, body: dict[str, object] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    request.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_until_ready(base: str, web: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise DemoError(f"the web process exited early; its log:\n{log.read_text()[-3000:]}")
        try:
            status, _ = http("GET", f"{base}/readyz")
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise DemoError(f"the web tier was not ready after {timeout:.0f} s; its log:\n{log.read_text()[-3000:]}")


def python_version() -> str:
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    return current if current in SUPPORTED_PYTHONS else "3.12"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, help="folder to bake into (default: a new temp folder)")
    parser.add_argument("--work-seconds", type=float, default=2.0, help="simulated work of the job")
    args = parser.parse_args()

    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise DemoError(
            "no redis-server on PATH. Install one (Debian/Ubuntu: `sudo apt-get install redis-server`, "
            "macOS: `brew install redis`) and run the demo again."
        )
    if shutil.which("uv") is None:
        raise DemoError("uv is not on PATH; run the demo through `bash scripts/demo.sh`")

    output = (args.output or Path(tempfile.mkdtemp(prefix="template-demo-"))).resolve()
    output.mkdir(parents=True, exist_ok=True)
    version = python_version()
    default = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    if version == default:
        step(f"baking the default project (python {version}) into {output}")
    else:
        step(
            f"baking the default project into {output}, but with python_version={version}: the "
            f"interpreter this demo runs on (the template's default answer is {default})"
        )
    started = time.perf_counter()
    run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-f",
            str(TEMPLATE),
            "-o",
            str(output),
            f"python_version={version}",
        ],
        cwd=output,
    )
    project = output / "acme-reports"
    print(f"    baked in {time.perf_counter() - started:.1f} s", flush=True)

    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "DATABASE_URL", "REDIS_URL"}}
    env["UV_PYTHON"] = sys.executable  # the interpreter the project was baked for: no download
    step("installing the project's locked dependencies with uv (first run downloads wheels)")
    run(["uv", "sync", "--locked"], cwd=project, env=env, show=True)

    redis_port, web_port, worker_port = free_port(), free_port(), free_port()
    env.update(
        ENVIRONMENT="development",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(web_port),
        WORKER_HTTP_PORT=str(worker_port),
        # The demo's worker serves the default queue; a report in flight at the end finishes.
        QUEUES=json.dumps({"default": {"drain_seconds": 10}, "scheduled": {"drain_seconds": 10}}),
    )
    logs = output / "demo-logs"
    logs.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{web_port}"
    app = str(project / ".venv" / "bin" / "acme-reports")

    with ExitStack() as cleanup:
        step(f"starting a private redis-server on 127.0.0.1:{redis_port}")
        redis = start(
            [
                redis_server,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "noeviction",
            ],
            cwd=project,
            log=logs / "redis.log",
            env=env,
        )
        cleanup.callback(stop, redis, "redis-server", 10)

        step("migrating the embedded SQLite database (acme_reports.db)")
        run([app, "migrate"], cwd=project, env=env)

        step(f"starting the web tier on {base} and a worker (logs in {logs})")
        web = start([app, "web"], cwd=project, log=logs / "web.log", env=env)
        cleanup.callback(stop, web, "web")
        worker = start([app, "worker"], cwd=project, log=logs / "worker.log", env=env)
        cleanup.callback(stop, worker, "worker")
        wait_until_ready(base, web, logs / "web.log", timeout=60)

        step(f"POST /v1/reports (the job simulates {args.work_seconds:g} s of work)")
        status, accepted = http(
            "POST",
            f"{base}/v1/reports",
            {"title": "Demo report", "work_seconds": args.work_seconds},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if status != 202:
            raise DemoError(f"expected 202 Accepted, got {status}: {accepted}")
        print(f"    {status} {json.dumps(accepted)}", flush=True)

        step(f"polling {accepted['status_url']} until the job finishes")
        job: dict[str, object] = {}
        last = None
        deadline = time.monotonic() + args.work_seconds + 60
        while time.monotonic() < deadline:
            _, job = http("GET", f"{base}{accepted['status_url']}")
            if job.get("status") != last:
                last = job.get("status")
                print(f"    status: {last} (attempts: {job.get('attempts')})", flush=True)
            if last in {"complete", "failed", "dead"}:
                break
            if worker.poll() is not None:
                raise DemoError(f"the worker exited; its log:\n{(logs / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.25)
        if last != "complete":
            raise DemoError(f"the job did not complete: {json.dumps(job)}")
        print(f"    result: {json.dumps(job['result'])}", flush=True)

        step("stopping web, worker and redis-server")
    step(f"done. The project is in {project}; `cd` there and run `make help` to go on.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted; everything the demo started has been stopped", file=sys.stderr)
        sys.exit(130)
