"""Every feature's tasks, in one place: importing this module registers them all.

The worker (`{{ cookiecutter.project_slug }} worker --queue NAME`) and the dead-letter replay import it; add a feature's
`tasks` module here and its `@task`s run on the queues they name.
"""

from {{ cookiecutter.package_name }}.digests import tasks as digest_tasks
from {{ cookiecutter.package_name }}.reports import tasks as report_tasks

TASK_MODULES = (report_tasks, digest_tasks)
