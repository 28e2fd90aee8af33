"""Every feature's tasks and worker metrics: importing this module registers them all.

The worker (`{{ cookiecutter.project_slug }} worker --queue NAME`) and the dead-letter replay import it; the
web tier never does. A feature is listed once, in `features.py`: its `tasks.py` here registers its
`@task`s, and its `metrics.py` (if it has one) declares its worker-side metrics in this process
only, so they are served on the worker's /metrics and never on the web's.
"""

from {{ cookiecutter.package_name }} import features

TASK_MODULES = tuple(features.parts("tasks"))
METRIC_MODULES = tuple(features.parts("metrics"))
