"""Example feature: reports generated in the background. Copy its shape for new features."""

from chassis.service import Feature

from {{ cookiecutter.package_name }}.reports.tasks import generate_report

feature = Feature(
    name="reports",
    router="{{ cookiecutter.package_name }}.reports.router:router",
    tasks=[generate_report],
    models=["{{ cookiecutter.package_name }}.reports.models"],
)
