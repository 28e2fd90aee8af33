"""The sample service as the chassis sees it."""

from chassis.service import Service

from sample.settings import Settings

SERVICE = Service(
    name="sample",
    title="Sample",
    description="The chassis's test service.",
    settings=Settings,
    features="sample.features:FEATURES",
    app="sample.main:create_app",
    cli="sample.cli",
)
