"""What an app hands the chassis: its name, its settings and its features.

An app declares one `Service` and lists its features in one place:

    FEATURES = [reports.feature, digests.feature]
    SERVICE = Service(name="acme-reports", title="Acme Reports", settings=Settings,
                      features="acme_reports.features:FEATURES",
                      app="acme_reports.main:create_app", cli="acme_reports.cli")

The web app, the worker and the command line are all built from that one list. Parts that load
the HTTP stack (a router) are named as `module:attribute` and imported only by the web process,
so a worker's /metrics never carries the web tier's series; tasks and settings are objects.
"""

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chassis.settings import Settings, load_settings
from pydantic_settings import BaseSettings

# Adds a feature's subcommands (argparse's subparser type is private).
RegisterCommands = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


@dataclass(frozen=True)
class Feature:
    """One feature's parts: everything the chassis wires for it, named once."""

    name: str
    # `module:attribute` of its APIRouter; included behind the rate limit by the web process only.
    router: str | None = None
    # Its `@task`s (and `@cron` tasks). The worker and `dlq replay` import them through this list.
    tasks: Sequence[Any] = ()
    # Its own settings models, each with its own prefix; validated when any process starts.
    settings: Sequence[type[BaseSettings]] = ()
    # Adds its subcommands to the service's command.
    cli: RegisterCommands | None = None
    # Modules that declare worker-side metrics: imported by the worker only.
    worker_metrics: Sequence[str] = ()
    # Modules that declare its tables, for `make revision` (autogenerate sees imported tables only).
    models: Sequence[str] = ()


@dataclass(frozen=True)
class Service:
    """The app as the chassis sees it."""

    # The command and the prefix of its process names (`acme-reports-web`, `-worker`, ...).
    name: str
    title: str
    settings: type[Settings]
    # `module:attribute` of the app's FEATURES list; resolved after a process set up its metrics.
    features: str
    # `module:attribute` of the app factory that uvicorn serves.
    app: str
    # The module that runs the command (`python -m`), for the processes `dev` starts.
    cli: str
    description: str = ""
    version: str = "0.1.0"
    _loaded: list[Feature] = field(default_factory=list, repr=False, compare=False)

    def load_features(self) -> list[Feature]:
        """The features, imported once; a wrong entry fails here, at start-up."""
        if not self._loaded:
            found = resolve(self.features)
            if not isinstance(found, list | tuple) or not all(
                isinstance(item, Feature) for item in found
            ):
                raise TypeError(f"{self.features} must be a list of chassis Feature objects")
            self._loaded.extend(found)
        return list(self._loaded)

    def load_settings(self) -> Settings:
        """The service's settings, after checking every feature's own; `InvalidSettings` if wrong."""
        settings = load_settings(self.settings)
        for feature in self.load_features():
            for model in feature.settings:
                load_settings(model)
        return settings


def resolve(reference: str) -> Any:
    """The object a `module:attribute` reference names."""
    module, _, attribute = reference.partition(":")
    if not attribute:
        raise ValueError(f"{reference!r} must look like 'package.module:attribute'")
    return getattr(importlib.import_module(module), attribute)


__all__ = ["Feature", "RegisterCommands", "Service", "resolve"]
