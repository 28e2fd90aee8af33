"""The service's features, in one place: add a feature by adding its package name to FEATURES.

Each entry point finds a feature's parts by their file names (`<feature>/<part>.py`):

    router.py    `router`, included by `api.py` behind the rate limit (web)
    models.py    tables, seen by `migrations/env.py` (`make revision`)
    tasks.py     `@task`s, registered by `tasks.py` (worker, `dlq replay`)
    metrics.py   worker-side metrics, imported by `tasks.py` only: never on the web's /metrics
    cli.py       `register(commands)`, added to the command by `cli.py`

A feature without a part simply has no such file. This module imports nothing of its own at
import time: the `web` command must not load a feature's modules before it has set up metrics.
"""

import importlib
import importlib.util
from types import ModuleType

FEATURES = ("reports", "digests")


def parts(part: str) -> list[ModuleType]:
    """`<package>.<feature>.<part>` of every feature that has that file, imported, in order."""
    found = []
    for feature in FEATURES:
        # find_spec imports the feature package itself, so a name in FEATURES that is not a
        # package fails here; a missing part is None, and a part that fails to import raises.
        name = f"{{ cookiecutter.package_name }}.{feature}.{part}"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found
