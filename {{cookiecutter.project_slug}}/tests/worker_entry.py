"""`python -m tests.worker_entry`: the real worker process, for drain and outage tests.

Settings come from the environment the test sets. Every task takes `JOB_TIMEOUT_SECONDS`, so a test
can make the redelivery delay after a crash (largest timeout + 11 s) short.
"""

import asyncio
import dataclasses

from {{ cookiecutter.package_name }} import tasks  # noqa: F401 - registers every feature's tasks
from {{ cookiecutter.package_name }}.config import get_settings
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.jobs._worker import serve
from {{ cookiecutter.package_name }}.jobs.registry import registered_tasks

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    queue_tasks = [
        dataclasses.replace(task, timeout_seconds=None) for task in registered_tasks("default")
    ]
    asyncio.run(serve(settings, "default", queue_tasks))
