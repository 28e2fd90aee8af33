"""Every metric the alert rules and the dashboard read is one the service exposes."""

import re

import httpx
from chassis.core.metrics import PREFIX
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PROJECT_ROOT


def exposed_names(text: str) -> set[str]:
    """Every sample name the text can carry, whether or not a series exists yet."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, [""]))
    return names


async def test_every_metric_in_alerts_and_dashboard_is_exposed(client: httpx.AsyncClient) -> None:
    # Worker metrics live in this process too once a worker has been built here.
    from chassis.jobs._worker import metrics as _worker_metrics  # noqa: F401

    exposed = exposed_names((await client.get("/metrics")).text)
    deploy = PROJECT_ROOT / "deploy"
    files = [*deploy.glob("prometheus/*.yml"), *deploy.glob("grafana/*.json")]
    referenced = {
        name for path in files for name in re.findall(rf"\b{PREFIX}_[a-z0-9_]+", path.read_text())
    }
    assert len(files) >= 3
    assert referenced - exposed == set()
