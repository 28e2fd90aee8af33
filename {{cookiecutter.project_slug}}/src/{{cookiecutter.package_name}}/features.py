"""The service's features, in one place: a feature is in the service when it is listed here.

Each names its router, tasks, settings and commands in its own `feature` manifest; the web app,
the worker and the command line are built from this list (`main.py`, `cli.py`).
"""

from {{ cookiecutter.package_name }} import digests, reports

FEATURES = [reports.feature, digests.feature]
