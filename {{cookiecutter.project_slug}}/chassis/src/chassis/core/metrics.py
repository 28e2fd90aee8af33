"""Metric names shared by both processes, and the web tier's multi-process directory.

The metrics themselves live with the process that serves them: `web/metrics.py` (and the web's
/metrics), `jobs/_worker/metrics.py` (the worker's), `jobs/metrics.py` (queue gauges the web tier
computes per scrape). This module must not import prometheus_client: `web` prepares the directory
through it before the library loads (see below).
"""

import os
import tempfile
from pathlib import Path

from chassis.settings import Settings

# Every metric the chassis defines starts with this; a service is told apart by its scrape labels
# (job, namespace), and the app's own metrics use names of their own.
PREFIX = "chassis"

# prometheus_client reads this variable once, when it is first imported: set, every metric value
# lives in a per-process file in that directory and /metrics adds up the files of all processes.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metric_name(name: str) -> str:
    """`jobs_started_total` -> `chassis_jobs_started_total`."""
    return f"{PREFIX}_{name}"


def prepare_multiprocess_dir(settings: Settings) -> Path | None:
    """Give uvicorn's worker processes one directory to share metrics through.

    Runs in the web's parent process before uvicorn starts (and before anything imports
    prometheus_client), so every worker inherits the variable. The directory is emptied first:
    files left by an earlier run would add its counts to this one.
    """
    # An empty variable (an `env_file` line with no value) would still switch the library on.
    configured = settings.prometheus_multiproc_dir or os.environ.pop(MULTIPROCESS_ENV, None)
    if not configured and settings.web_workers == 1:
        return None
    directory = Path(configured or tempfile.mkdtemp(prefix="prometheus-multiproc-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory
