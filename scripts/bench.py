"""Benchmark, not a test: how long baking takes, and how long the generated test suite runs.

    python3 scripts/bench.py [--bakes N]

Needs cookiecutter in this interpreter (pip install -r tests/requirements.txt), uv, and what the
generated tests need: Docker, or TEST_DATABASE_URL and TEST_REDIS_URL. Prints absolute times and
the machine; nothing fails on a slow result. The generated service's own benchmarks are
`make bench` in a baked project.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
BAKE_TARGET_SECONDS = 2
SUITE_TARGET_SECONDS = 120


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start"
    )


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}")
    return elapsed


def verdict(seconds: float, target: float) -> str:
    return f"{'met' if seconds < target else 'MISSED'} (target < {target} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bakes", type=int, default=5, help="bakes to time (the median is kept)")
    args = parser.parse_args()
    if shutil.which("uv") is None:
        sys.exit("uv is not on PATH: https://docs.astral.sh/uv/")
    print(f"Machine: {machine()}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: every process compiles its imports from source")
    with tempfile.TemporaryDirectory(prefix="bench-bake-") as scratch:
        root = Path(scratch)
        bakes = []
        for number in range(args.bakes):
            bake = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE)]
            bakes.append(timed([*bake, "-o", str(root / str(number))], cwd=root))
        median = statistics.median(bakes)
        print(
            f"Bake (cookiecutter --no-input, a new process each): median {median:.2f} s of "
            f"{args.bakes}, fastest {min(bakes):.2f} s: {verdict(median, BAKE_TARGET_SECONDS)}"
        )
        project = next((root / "0").iterdir())
        install = timed(["uv", "sync", "--locked", "--quiet"], cwd=project)
        print(f"Install (uv sync --locked, from uv's cache): {install:.1f} s")
        suite = timed(["uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"], project)
        print(f"Generated test suite (pytest): {suite:.1f} s: {verdict(suite, SUITE_TARGET_SECONDS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
