"""Our wrapper over arq: the only package that imports it, so a queue swap stays here.

task / Task / Message    declare tasks and capture calls        (registry.py)
JobContext               what a task receives                   (context.py)
Queue                    enqueue and live state, one round trip (queue.py)
submit / Submitted       record + commit + enqueue from a route (submit.py)
run_once                 a side effect once per business key    (run_once.py)
get_status / JobView     status from Redis, then from history   (status.py)
build_worker             the arq worker for our tasks           (worker.py)
"""

from {{ cookiecutter.package_name }}.jobs.context import JobContext
from {{ cookiecutter.package_name }}.jobs.models import JobRecord, JobStatus
from {{ cookiecutter.package_name }}.jobs.queue import Queue, new_job_id
from {{ cookiecutter.package_name }}.jobs.registry import Message, Task, registered_tasks, task
from {{ cookiecutter.package_name }}.jobs.run_once import run_once
from {{ cookiecutter.package_name }}.jobs.status import JobView, get_status
from {{ cookiecutter.package_name }}.jobs.submit import Submitted, submit

__all__ = [
    "JobContext",
    "JobRecord",
    "JobStatus",
    "JobView",
    "Message",
    "Queue",
    "Submitted",
    "Task",
    "get_status",
    "new_job_id",
    "registered_tasks",
    "run_once",
    "submit",
    "task",
]
