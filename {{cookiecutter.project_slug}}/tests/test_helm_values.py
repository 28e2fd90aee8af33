"""Every setting can be set through the Helm chart, and the chart's schema types each one.

A new setting goes into settings.py, .env.example, `config:` in deploy/helm/values.yaml and
deploy/helm/values.schema.json; this fails until all four agree.
"""

import json

import yaml

from tests.conftest import PROJECT_ROOT
from tests.test_env_example import setting_names

CHART = PROJECT_ROOT / "deploy" / "helm"
# Settings the chart sets itself, keeps in its Secret, or that have no place in a cluster.
# QUEUES is built from workers.queues (one entry per worker Deployment).
CHART_MANAGED = {"WEB_HOST", "WEB_PORT", "WORKER_HTTP_HOST", "WORKER_HTTP_PORT", "QUEUES"}
CHART_SECRET = {"DATABASE_URL", "REDIS_URL", "DIGEST_SMTP_PASSWORD", "DIGEST_WEBHOOK_URL"}
CHART_SECRET |= {"REDIS_SENTINEL_PASSWORD"}  # in the existing Secret, as DIGEST_SMTP_PASSWORD is
NOT_FOR_CLUSTERS = {
    "DEBUG",  # production refuses it
    "PROMETHEUS_MULTIPROC_DIR",  # defaults to a fresh directory under the writable /tmp
}
# Not settings of ours: the OpenTelemetry SDK reads them itself (core/tracing.py).
OPENTELEMETRY = {
    "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}  # fmt: skip


def chart_config() -> set[str]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return set(values["config"])


def test_helm_config_covers_every_other_setting() -> None:
    settings = setting_names()
    settings |= OPENTELEMETRY
    reachable = chart_config() | CHART_MANAGED | CHART_SECRET | NOT_FOR_CLUSTERS
    assert (settings - reachable, chart_config() - settings) == (set(), set())


def test_helm_schema_types_every_config_key() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert chart_config() == set(schema["properties"]["config"]["properties"])
