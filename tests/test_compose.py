"""The generated compose.yaml is a valid Compose file that starts the service in the right order.

Validated against the Compose Specification's own JSON schema (read from ../shared, never copied).
Running it needs a Docker engine, which this machine lacks: `docker compose up` is the user's check.
"""

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import DEFAULT_SLUG, SHARED, Project

# One worker service per shipped queue: `worker` serves the default queue.
WORKER_SERVICES = {"worker": "default", "worker-scheduled": "scheduled"}
APP_SERVICES = ("migrate", "web", *WORKER_SERVICES)
COMPOSE_SCHEMA = SHARED / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose(project: Project) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project.path / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def prometheus_config(project: Project) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (project.path / "deploy" / "prometheus" / "prometheus.yml").read_text()
    )
    return loaded


def env_example(project: Project) -> dict[str, str]:
    lines = (project.path / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    return {key: value for key, value in pairs}


def queues(project: Project) -> dict[str, dict[str, Any]]:
    """The QUEUES setting that .env.example gives every service (compose reads .env)."""
    loaded: dict[str, dict[str, Any]] = json.loads(env_example(project)["QUEUES"])
    return loaded


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"expected a duration in seconds, got {duration!r}"
    return int(match.group(1))


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    errors = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    assert errors == []


def test_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    """The validation above can fail: the schema closes service definitions."""
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    broken = {**compose, "services": {**compose["services"], "web": {"imagee": "x"}}}
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_service_set(services: dict[str, dict[str, Any]]) -> None:
    assert sorted(services) == [
        "migrate",
        "pgbouncer",
        "postgres",
        "prometheus",
        "redis",
        "web",
        "worker",
        "worker-scheduled",
    ]


def test_processes_share_one_image_and_differ_by_command(services: dict[str, dict[str, Any]]) -> None:
    assert {name: (services[name]["image"], services[name]["command"]) for name in APP_SERVICES} == {
        "migrate": (f"{DEFAULT_SLUG}:local", ["migrate"]),
        "web": (f"{DEFAULT_SLUG}:local", ["web"]),
        "worker": (f"{DEFAULT_SLUG}:local", ["worker", "--queue", "default"]),
        "worker-scheduled": (f"{DEFAULT_SLUG}:local", ["worker", "--queue", "scheduled"]),
    }


def test_one_worker_service_serves_each_queue_in_queues(
    project: Project, services: dict[str, dict[str, Any]]
) -> None:
    served = sorted(services[name]["command"][2] for name in services if name.startswith("worker"))
    assert served == sorted(queues(project))


def test_migrate_runs_once_after_postgres_is_healthy(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert (migrate["restart"], migrate["depends_on"]) == (
        "no",
        {"postgres": {"condition": "service_healthy"}},
    )


def test_web_and_worker_wait_for_a_successful_migration(services: dict[str, dict[str, Any]]) -> None:
    conditions = {
        name: {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        for name in ("web", *WORKER_SERVICES)
    }
    expected = {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }
    assert conditions == {name: expected for name in ("web", *WORKER_SERVICES)}


def test_workers_scale_without_fixed_names_or_host_ports(services: dict[str, dict[str, Any]]) -> None:
    fixed = {
        name: ("container_name" in services[name], "ports" in services[name]) for name in WORKER_SERVICES
    }
    assert fixed == {name: (False, False) for name in WORKER_SERVICES}


def test_each_worker_stop_grace_period_outlasts_its_queue_drain(
    project: Project, services: dict[str, dict[str, Any]]
) -> None:
    drains = {name: queues(project)[queue]["drain_seconds"] for name, queue in WORKER_SERVICES.items()}
    graces = {name: seconds(services[name]["stop_grace_period"]) for name in WORKER_SERVICES}
    assert (graces, {name: graces[name] > drains[name] for name in WORKER_SERVICES}) == (
        {"worker": 35, "worker-scheduled": 160},
        {"worker": True, "worker-scheduled": True},
    )


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    checked = sorted(name for name, service in services.items() if "healthcheck" in service)
    assert checked == ["postgres", "redis", "web", "worker", "worker-scheduled"]


def test_health_checks_use_the_service_endpoints(services: dict[str, dict[str, Any]]) -> None:
    urls = {
        name: re.search(r"http://[^']+", " ".join(services[name]["healthcheck"]["test"]))
        for name in ("web", *WORKER_SERVICES)
    }
    assert {name: match.group(0) if match else None for name, match in urls.items()} == {
        "web": "http://127.0.0.1:8000/readyz",
        "worker": "http://127.0.0.1:9100/healthz",
        "worker-scheduled": "http://127.0.0.1:9100/healthz",
    }


def test_redis_persists_and_never_evicts(services: dict[str, dict[str, Any]]) -> None:
    command = services["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert (
        options["--appendonly"],
        options["--maxmemory-policy"],
        [volume.split(":")[1] for volume in services["redis"]["volumes"]],
    ) == ("yes", "noeviction", ["/data"])


def test_postgres_keeps_its_data_in_a_named_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    volume, path = services["postgres"]["volumes"][0].split(":")
    assert (volume in compose["volumes"], path) == (True, "/var/lib/postgresql/data")


def test_app_services_read_env_and_run_read_only(services: dict[str, dict[str, Any]]) -> None:
    assert {
        name: (services[name]["env_file"], services[name]["read_only"], services[name]["tmpfs"])
        for name in APP_SERVICES
    } == {name: (".env", True, ["/tmp"]) for name in APP_SERVICES}


def test_app_services_cannot_gain_privileges(services: dict[str, dict[str, Any]]) -> None:
    """no-new-privileges: a setuid binary or file capability in the image grants nothing."""
    options = {name: services[name].get("security_opt") for name in APP_SERVICES}
    assert options == {name: ["no-new-privileges:true"] for name in APP_SERVICES}


def test_default_passwords_are_the_placeholder_production_refuses(
    project: Project, compose: dict[str, Any]
) -> None:
    config = (project.path / "chassis" / "src" / "chassis" / "settings.py").read_text()
    placeholder = re.search(r'PLACEHOLDER_PASSWORD = "([^"]+)"', config)
    environment = compose["x-app"]["environment"]
    assert placeholder is not None
    assert (
        f":${{POSTGRES_PASSWORD:-{placeholder.group(1)}}}@" in environment["DATABASE_URL"],
        f":${{REDIS_PASSWORD:-{placeholder.group(1)}}}@" in environment["REDIS_URL"],
    ) == (True, True)


def test_monitoring_and_pgbouncer_are_opt_in_profiles(services: dict[str, dict[str, Any]]) -> None:
    profiled = {name: service.get("profiles") for name, service in services.items()}
    assert {name: p for name, p in profiled.items() if p} == {
        "prometheus": ["monitoring"],
        "pgbouncer": ["pgbouncer"],
    }


def test_pgbouncer_pools_by_transaction_in_front_of_postgres(
    services: dict[str, dict[str, Any]],
) -> None:
    pgbouncer = services["pgbouncer"]
    assert (pgbouncer["environment"]["POOL_MODE"], list(pgbouncer["depends_on"])) == (
        "transaction",
        ["postgres"],
    )


def test_prometheus_loads_the_alert_rules_it_mounts(
    services: dict[str, dict[str, Any]], prometheus_config: dict[str, Any]
) -> None:
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in services["prometheus"]["volumes"])
    assert (
        mounts["./deploy/prometheus/alerts.yml"] in prometheus_config["rule_files"],
        mounts["./deploy/prometheus/prometheus.yml"],
    ) == (True, "/etc/prometheus/prometheus.yml")


def test_prometheus_scrapes_every_web_and_worker_container(prometheus_config: dict[str, Any]) -> None:
    jobs = {
        job["job_name"]: [
            (name, sd["port"], job.get("metrics_path", "/metrics"))
            for sd in job["dns_sd_configs"]
            for name in sd["names"]
        ]
        for job in prometheus_config["scrape_configs"]
    }
    assert jobs == {
        f"{DEFAULT_SLUG}-web": [("web", 8000, "/metrics")],
        f"{DEFAULT_SLUG}-worker": [
            ("worker", 9100, "/metrics"),
            ("worker-scheduled", 9100, "/metrics"),
        ],
    }


def test_compose_ports_match_the_scrape_targets(services: dict[str, dict[str, Any]]) -> None:
    environment = services["web"]["environment"]
    assert (environment["WEB_PORT"], environment["WORKER_HTTP_PORT"]) == ("8000", "9100")


def test_prometheus_config_goes_with_compose(bake) -> None:  # type: ignore[no-untyped-def]
    project: Project = bake(use_compose=False)
    assert (project.path / "deploy" / "prometheus" / "prometheus.yml").exists() is False


def test_app_services_pass_the_tracing_settings_through(services: dict[str, dict[str, Any]]) -> None:
    # Every bake traces; an empty value leaves the exporter off (chassis core/tracing.py).
    exporters = {
        name: services[name].get("environment", {}).get("OTEL_EXPORTER_OTLP_ENDPOINT")
        for name in APP_SERVICES
    }
    assert exporters == dict.fromkeys(APP_SERVICES, "${OTEL_EXPORTER_OTLP_ENDPOINT:-}")
