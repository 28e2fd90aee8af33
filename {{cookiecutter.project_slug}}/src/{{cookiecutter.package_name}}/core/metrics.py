"""Prometheus naming shared by every module that defines a metric."""

# Every metric name starts with the project's name, so dashboards and alerts never collide.
PREFIX = "{{ cookiecutter.package_name }}"


def metric_name(name: str) -> str:
    """`jobs_started_total` -> `{{ cookiecutter.package_name }}_jobs_started_total`."""
    return f"{PREFIX}_{name}"
