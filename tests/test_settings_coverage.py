"""Every setting the service reads is documented in .env.example and reachable from the Helm chart."""

import json
import re

import pytest
import yaml

from tests.conftest import DEFAULT_PACKAGE, Project

# Settings the chart sets itself, keeps in its Secret, or that have no place in a cluster.
# QUEUES is built from workers.queues (one entry per worker Deployment).
CHART_MANAGED = {"WEB_HOST", "WEB_PORT", "WORKER_HTTP_HOST", "WORKER_HTTP_PORT", "QUEUES"}
CHART_SECRET = {"DATABASE_URL", "REDIS_URL", "SMTP_PASSWORD", "DIGEST_WEBHOOK_URL"}
NOT_FOR_CLUSTERS = {
    "DEBUG",  # production refuses it
    "PROMETHEUS_MULTIPROC_DIR",  # defaults to a fresh directory under the writable /tmp
}
# compose.yaml reads these from .env; the service does not.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "REDIS_PASSWORD"}


@pytest.fixture(scope="module")
def settings_names(project: Project) -> set[str]:
    code = (
        f"import json; from {DEFAULT_PACKAGE}.config import Settings; "
        "print(json.dumps([name.upper() for name in Settings.model_fields]))"
    )
    return set(json.loads(project.run("uv", "run", "--locked", "python", "-c", code).stdout))


def test_env_example_lists_exactly_the_settings(project: Project, settings_names: set[str]) -> None:
    text = (project.path / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert listed - COMPOSE_ONLY == settings_names


def test_helm_config_covers_every_other_setting(project: Project, settings_names: set[str]) -> None:
    values = yaml.safe_load((project.path / "deploy/helm/values.yaml").read_text())
    reachable = set(values["config"]) | CHART_MANAGED | CHART_SECRET | NOT_FOR_CLUSTERS
    assert (settings_names - reachable, set(values["config"]) - settings_names) == (set(), set())


def test_helm_schema_types_every_config_key(project: Project) -> None:
    values = yaml.safe_load((project.path / "deploy/helm/values.yaml").read_text())
    schema = json.loads((project.path / "deploy/helm/values.schema.json").read_text())
    assert set(values["config"]) == set(schema["properties"]["config"]["properties"])
