"""Our wrapper over arq: the only package that imports it, so a queue swap stays here.

task / Task / Message    declare tasks and capture calls        (registry.py)
cron                     a task on a schedule, once per fire time (cron.py)
Backoff                  retry policy: what is transient, waits (retry.py)
JobContext               what a task receives                   (context.py)
Queue                    enqueue and live state, one round trip (queue.py)
submit / Submitted       record + commit + enqueue from a route (submit.py)
run_once                 a side effect once per business key    (run_once.py)
get_status / JobView     status from Redis, then from history   (status.py)
dead_letters             list, replay and purge dead jobs       (dead_letters.py)
build_worker / serve     the arq worker for tasks and crons     (worker.py, _worker/schedule.py)
metrics, queue_metrics   worker metrics; queue gauges at scrape (metrics.py, queue_metrics.py)

The runner (runner.py) wraps every task: history, timeout, retries and dead letters. The worker
survives Redis outages (outage_tolerant.py) and serves its probes (heartbeat.py, probes.py).
"""

from {{ cookiecutter.package_name }}.jobs.context import JobContext
from {{ cookiecutter.package_name }}.jobs.cron import cron, registered_crons
from {{ cookiecutter.package_name }}.jobs.models import JobRecord, JobStatus
from {{ cookiecutter.package_name }}.jobs.queue import Queue, new_job_id
from {{ cookiecutter.package_name }}.jobs.registry import Message, Task, registered_tasks, task
from {{ cookiecutter.package_name }}.jobs.retry import Backoff
from {{ cookiecutter.package_name }}.jobs.run_once import run_once
from {{ cookiecutter.package_name }}.jobs.status import JobView, get_status
from {{ cookiecutter.package_name }}.jobs.submit import Submitted, submit

__all__ = [
    "Backoff",
    "JobContext",
    "JobRecord",
    "JobStatus",
    "JobView",
    "Message",
    "Queue",
    "Submitted",
    "Task",
    "cron",
    "get_status",
    "new_job_id",
    "registered_crons",
    "registered_tasks",
    "run_once",
    "submit",
    "task",
]
