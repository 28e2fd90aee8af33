"""`python -m tests.worker_entry`: the real worker process, for crash, drain and outage tests.

Settings come from the environment the test sets. Every task takes `JOB_TIMEOUT_SECONDS`, so a test
can make the redelivery delay after a crash (largest timeout + 11 s) short.
"""

import dataclasses

from {{ cookiecutter.package_name }} import worker
from {{ cookiecutter.package_name }}.config import get_settings
from {{ cookiecutter.package_name }}.jobs import registered_tasks

if __name__ == "__main__":
    tasks = [dataclasses.replace(task, timeout_seconds=None) for task in registered_tasks()]
    worker.run(get_settings(), tasks)
