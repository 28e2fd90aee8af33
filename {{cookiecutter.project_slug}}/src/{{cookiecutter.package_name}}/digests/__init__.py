"""Cron digests: a summary of the last period, sent once per period through a pluggable notifier."""

from chassis.service import Feature

from {{ cookiecutter.package_name }}.digests import cli
from {{ cookiecutter.package_name }}.digests.settings import DigestSettings
from {{ cookiecutter.package_name }}.digests.tasks import send_activity_digest

feature = Feature(
    name="digests",
    tasks=[send_activity_digest],
    settings=[DigestSettings],
    cli=cli.register,
    models=["{{ cookiecutter.package_name }}.digests.models"],
)
