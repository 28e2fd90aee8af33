"""Features are registered once (`features.py`), and the web tier loads none of the worker's code."""

import subprocess
import sys

from chassis.service import resolve

from {{ cookiecutter.package_name }} import features
from {{ cookiecutter.package_name }}.main import create_app
from tests.conftest import PROJECT_ROOT

WEB_MODULES = """
import sys
from {{ cookiecutter.package_name }}.main import create_app
create_app()
print("\\n".join(sorted(sys.modules)))
"""


def web_tier_modules() -> set[str]:
    """What a fresh web process has imported once its app is built (the tests' own process
    has imported the tasks, so only another interpreter can tell)."""
    done = subprocess.run(
        [sys.executable, "-c", WEB_MODULES],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return set(done.stdout.split())


def test_web_tier_imports_no_worker_only_module() -> None:
    package = "{{ cookiecutter.package_name }}"
    worker_only = {"chassis.jobs._worker"}
    worker_only |= {module for feature in features.FEATURES for module in feature.worker_metrics}
    worker_only |= {f"{package}.{feature.name}.metrics" for feature in features.FEATURES}
    assert web_tier_modules() & worker_only == set()


def test_every_feature_router_is_included() -> None:
    served = set(create_app().openapi()["paths"])
    routers = [resolve(feature.router) for feature in features.FEATURES if feature.router]
    declared = {route.path for router in routers for route in router.routes}
    assert declared - served == set()
