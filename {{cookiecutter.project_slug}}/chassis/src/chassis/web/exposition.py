"""What /metrics serves: this process's registry, or the files of every uvicorn worker."""

import os
from collections.abc import Iterable, Iterator

from chassis.core.metrics import MULTIPROCESS_ENV
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector


class _Computed(Collector):
    """A collector for families computed before the scrape (async work cannot run in collect)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def render(extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition of this tier's metrics plus `extra`, computed once for this scrape."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS_ENV in os.environ:
        # Counters and histograms of every process, dead ones included, so totals never drop.
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    else:
        registry.register(REGISTRY)
    registry.register(_Computed(extra))
    return generate_latest(registry)
