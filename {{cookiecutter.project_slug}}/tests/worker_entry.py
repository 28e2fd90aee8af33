"""`python -m tests.worker_entry`: the real worker process, for drain and outage tests.

Settings come from the environment the test sets. Every task takes `JOB_TIMEOUT_SECONDS`, so a test
can make the redelivery delay after a crash (largest timeout + 11 s) short.
"""

import asyncio
import dataclasses

from chassis.core.logging import configure_logging
from chassis.jobs._worker import serve
from chassis.jobs.registry import registered_tasks

from {{ cookiecutter.package_name }}.service import SERVICE

if __name__ == "__main__":
    SERVICE.load_features()  # registers every feature's tasks
    settings = SERVICE.load_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    queue_tasks = [
        dataclasses.replace(task, timeout_seconds=None) for task in registered_tasks("default")
    ]
    asyncio.run(serve(settings, "default", queue_tasks))
