"""The generated Helm chart lints, renders and validates offline with Helm's own Go library.

Rendering is `helm template` (no cluster); what a live cluster would add (admission, the hook Job
really running, KEDA and the Prometheus Operator acting on their resources) is not exercised here.
"""

import copy
import json
import re
from typing import Any

import pytest
import yaml

from tests.conftest import DEFAULT_SLUG, SHARED, TEMPLATE, Project
from tests.deploy_files import (
    ALL_ON,
    ALL_ON_OTHERWISE,
    CRD_KINDS,
    SECRETS,
    SHIPPED_QUEUES,
    Chart,
    Rendered,
    component_of,
    crd_schemas,
    hook_weight,
    merged,
    tool,
)

TEMPLATE_CHART = TEMPLATE / "{{cookiecutter.project_slug}}" / "deploy" / "helm"
# The chart's floor (Chart.yaml kubeVersion) and the newest Kubernetes the schemas know.
KUBE_VERSIONS = ["1.25.0", "1.37.0"]
# Releases whose every manifest is validated: the defaults and two sets with every option on.
RELEASES = ["default_release", "full_release", "otherwise_release"]
CRD_DIR = SHARED / "schemas"
HOOK_EVENTS = "pre-install,pre-upgrade"
# Free-form maps in values.yaml: their keys are names the user picks, their values must be strings.
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# One worker Deployment per shipped queue, labelled by component.
WORKERS = {f"worker-{name}": name for name in SHIPPED_QUEUES}
COMPONENTS = ("web", *WORKERS, "migrate")
GRACE_MARGIN_SECONDS = 10
KEDA_ON = {
    "workers": {
        "keda": {"serverAddress": "http://prometheus.monitoring:9090"},
        "queues": {name: {"keda": {"enabled": True}} for name in SHIPPED_QUEUES},
    }
}


@pytest.fixture(scope="module")
def chart(project: Project) -> Chart:
    return Chart(project.path / "deploy" / "helm", tool("helm_python.chart"))


@pytest.fixture(scope="module")
def default_release(chart: Chart) -> Rendered:
    return chart.render(SECRETS)


@pytest.fixture(scope="module")
def full_release(chart: Chart) -> Rendered:
    return chart.render(ALL_ON)


@pytest.fixture(scope="module")
def otherwise_release(chart: Chart) -> Rendered:
    return chart.render(ALL_ON_OTHERWISE)


def queue_values(chart: Chart, name: str = "default") -> dict[str, Any]:
    """A shipped queue's block of values.yaml, to copy into a new queue."""
    values = yaml.safe_load((chart.path / "values.yaml").read_text())
    return copy.deepcopy(values["workers"]["queues"][name])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions In) matches labels."""
    by_value = selector.get("matchLabels", {}).items() <= labels.items()
    by_expression = all(
        expression["operator"] == "In" and labels.get(expression["key"]) in expression["values"]
        for expression in selector.get("matchExpressions", [])
    )
    return by_value and by_expression


def pod_labels(release: Rendered, component: str) -> dict[str, str]:
    labels: dict[str, str] = release.one("Deployment", component)["spec"]["template"]["metadata"]["labels"]
    return labels


def render_error(chart: Chart, values: dict[str, Any]) -> str:
    errors = tool("helm_python.errors")
    with pytest.raises(errors.HelmError) as raised:
        chart.render(values)
    return str(raised.value)


# --- Helm's linter -----------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_chart_lints_clean_with_default_values(chart: Chart, kube_version: str) -> None:
    assert chart.lint_problems(None, f"v{kube_version}") == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", [ALL_ON, ALL_ON_OTHERWISE], ids=["all-on", "all-on-otherwise"])
def test_chart_lints_clean_with_every_option_on(
    chart: Chart, values: dict[str, Any], kube_version: str
) -> None:
    assert chart.lint_problems(values, f"v{kube_version}") == []


def test_linter_reports_a_values_typo(chart: Chart) -> None:
    values = merged(SECRETS, {"workers": {"queues": {"default": {"replica": 3}}}})
    problems = chart.lint_problems(values, "v1.30.0")
    assert any("additional properties 'replica' not allowed" in line for line in problems)


# --- values.schema.json ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"web": {"replicaCont": 3}}, "additional properties 'replicaCont' not allowed"),
        ({"config": {"JOB_TIMEOUT_SECOND": 25}}, "'JOB_TIMEOUT_SECOND' not allowed"),
        ({"monitoring": {"serviceMonitor": {"enabeld": True}}}, "'enabeld' not allowed"),
        ({"workers": {"queues": {"default": {"drainSecond": 30}}}}, "'drainSecond' not allowed"),
        ({"workers": {"queues": {"scheduled": {"keda": {"fallback": 2}}}}}, "'fallback' not allowed"),
        # The single worker of earlier chart versions: an old values file fails loudly.
        ({"worker": {"replicaCount": 2}}, "additional properties 'worker' not allowed"),
        ({"networkPolicy": {"ingresController": []}}, "'ingresController' not allowed"),
        ({"networkPolicy": {"egress": {"postgres": {"too": []}}}}, "'too' not allowed"),
    ],
)
def test_schema_rejects_unknown_keys(chart: Chart, values: dict[str, Any], message: str) -> None:
    assert message in render_error(chart, merged(SECRETS, values))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"web": {"replicaCount": "3"}}, "got string, want integer"),
        ({"workers": {"queues": {"default": {"keda": {"enabled": "yes"}}}}}, "got string, want boolean"),
        ({"workers": {"queues": {"default": {"drainSeconds": 2.5}}}}, "want integer"),
        ({"image": {"pullPolicy": "Sometimes"}}, "value must be one of"),
    ],
)
def test_schema_rejects_wrong_types(chart: Chart, values: dict[str, Any], message: str) -> None:
    assert message in render_error(chart, merged(SECRETS, values))


@pytest.mark.parametrize("name", ["Reports", "9lives", "bulk_jobs", "-x", "a" * 32, ""])
def test_schema_rejects_a_bad_queue_name(chart: Chart, name: str) -> None:
    values = merged(SECRETS, {"workers": {"queues": {name: queue_values(chart)}}})
    assert f"invalid propertyName '{name}'" in render_error(chart, values)


def test_schema_requires_the_default_queue(chart: Chart) -> None:
    values = merged(SECRETS, {"workers": {"queues": {"default": None}}})
    assert "missing property 'default'" in render_error(chart, values)


def test_schema_requires_every_setting_of_a_new_queue(chart: Chart) -> None:
    values = merged(SECRETS, {"workers": {"queues": {"reports": {"replicas": 1}}}})
    assert "/workers/queues/reports': missing properties 'maxJobs'" in render_error(chart, values)


def test_a_new_queue_gets_its_own_worker(chart: Chart) -> None:
    release = chart.render(merged(SECRETS, {"workers": {"queues": {"bulk-2": queue_values(chart)}}}))
    container = release.one("Deployment", "worker-bulk-2")["spec"]["template"]["spec"]["containers"][0]
    queues = json.loads(release.one("ConfigMap", "config")["data"]["QUEUES"])
    assert (container["args"], sorted(queues)) == (
        ["worker", "--queue", "bulk-2"],
        ["bulk-2", "default", "scheduled"],
    )


def test_a_queue_can_be_removed(chart: Chart) -> None:
    release = chart.render(merged(SECRETS, {"workers": {"queues": {"scheduled": None}}}))
    queues = json.loads(release.one("ConfigMap", "config")["data"]["QUEUES"])
    workers = sorted(component_of(d) for d in release.all("Deployment") if component_of(d) != "web")
    assert (sorted(queues), workers) == (["default"], ["worker-default"])


def test_schema_closes_every_object(chart: Chart) -> None:
    """Each object in the schema lists its keys and rejects others, or is a map of strings, or a
    map whose names match a pattern and whose entries are a closed definition (the queues)."""
    schema = json.loads((chart.path / "values.schema.json").read_text())
    open_objects: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            described = {key: value for key, value in node.items() if key != "description"}
            is_open = node.get("type") == "object" and node.get("additionalProperties") is not False
            named_map = "pattern" in node.get("propertyNames", {}) and set(
                node.get("additionalProperties") or {}
            ) == {"$ref"}
            if is_open and described != STRING_MAP and not named_map:
                open_objects.append(where)
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}/{index}")

    walk(schema, "")
    assert open_objects == []


def test_every_value_is_documented() -> None:
    """values.yaml is documented line by line: a comment stands above every key."""
    undocumented = []
    previous = ""
    for number, line in enumerate((TEMPLATE_CHART / "values.yaml").read_text().splitlines(), 1):
        stripped = line.strip()
        if re.match(r"^(- )?[A-Za-z_][\w.-]*:", stripped) and not previous.startswith("#"):
            undocumented.append(f"{number}: {stripped}")
        if stripped:
            previous = stripped
    assert undocumented == []


# --- credentials -------------------------------------------------------------------------------


def test_rendering_without_credentials_fails_naming_the_fix(chart: Chart) -> None:
    assert "set secret.existingSecret" in render_error(chart, {})


def test_placeholder_password_is_refused(chart: Chart) -> None:
    values = {"secret": {"databaseUrl": "postgresql+asyncpg://app:change-me@db:5432/app"}}
    assert "change-me placeholder" in render_error(chart, merged(SECRETS, values))


def test_database_url_must_use_asyncpg(chart: Chart) -> None:
    values = {"secret": {"databaseUrl": "postgresql://app:s3cret@db:5432/app"}}
    assert "postgresql+asyncpg://" in render_error(chart, merged(SECRETS, values))


def test_existing_secret_replaces_the_charts_secrets(chart: Chart) -> None:
    release = chart.render({"secret": {"existingSecret": "reports-credentials"}})
    secret_refs = {
        component: [
            source["secretRef"]["name"]
            for source in spec["containers"][0]["envFrom"]
            if "secretRef" in source
        ]
        for component, spec in release.pod_specs().items()
    }
    assert (release.all("Secret"), secret_refs) == (
        [],
        {c: ["reports-credentials"] for c in COMPONENTS},
    )


# --- pods: non-root, read-only, probes, drain ------------------------------------------------------


def test_every_pod_runs_non_root(full_release: Rendered) -> None:
    specs = full_release.pod_specs()
    assert {
        component: (
            spec["securityContext"]["runAsNonRoot"],
            spec["securityContext"]["runAsUser"] > 0,
            spec["automountServiceAccountToken"],
        )
        for component, spec in specs.items()
    } == {c: (True, True, False) for c in COMPONENTS}


def test_every_container_has_a_read_only_root_and_no_privileges(full_release: Rendered) -> None:
    contexts = {
        container["name"]: container["securityContext"]
        for spec in full_release.pod_specs().values()
        for container in spec["containers"]
    }
    assert {
        name: (
            context["readOnlyRootFilesystem"],
            context["allowPrivilegeEscalation"],
            context["capabilities"]["drop"],
        )
        for name, context in contexts.items()
    } == {c: (True, False, ["ALL"]) for c in ("web", "worker", "migrate")}


def test_only_tmp_is_writable_and_it_is_an_empty_dir(full_release: Rendered) -> None:
    mounts = {}
    for component, spec in full_release.pod_specs().items():
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts[component] = [
            (mount["mountPath"], "emptyDir" in volumes[mount["name"]])
            for mount in spec["containers"][0]["volumeMounts"]
        ]
    assert mounts == {c: [("/tmp", True)] for c in COMPONENTS}


def test_web_probes_health_and_readiness_on_its_port(default_release: Rendered) -> None:
    container = default_release.one("Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    probes = {
        kind: (container[kind]["httpGet"]["path"], ports[container[kind]["httpGet"]["port"]])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/healthz", 8000),
        "livenessProbe": ("/healthz", 8000),
        "readinessProbe": ("/readyz", 8000),
    }


@pytest.mark.parametrize("component", WORKERS)
def test_worker_probes_its_own_health_port(default_release: Rendered, component: str) -> None:
    container = default_release.one("Deployment", component)["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = {item["name"]: item["value"] for item in container["env"]}
    probes = {
        kind: (container[kind]["httpGet"]["path"], ports[container[kind]["httpGet"]["port"]])
        for kind in ("livenessProbe", "readinessProbe")
    }
    assert (probes, env["WORKER_HTTP_PORT"]) == (
        {"livenessProbe": ("/healthz", 9100), "readinessProbe": ("/readyz", 9100)},
        "9100",
    )


def test_each_queue_grace_period_is_its_drain_plus_the_margin(default_release: Rendered) -> None:
    """The drain the worker reads (QUEUES) and the grace period Kubernetes gives come from one value."""
    queues = json.loads(default_release.one("ConfigMap", "config")["data"]["QUEUES"])
    graces = {
        component: (
            default_release.one("Deployment", component)["spec"]["template"]["spec"][
                "terminationGracePeriodSeconds"
            ],
            queues[queue]["drain_seconds"],
        )
        for component, queue in WORKERS.items()
    }
    assert graces == {"worker-default": (35, 25), "worker-scheduled": (160, 150)}


def test_a_longer_drain_lengthens_the_grace_period(chart: Chart) -> None:
    release = chart.render(merged(SECRETS, {"workers": {"queues": {"default": {"drainSeconds": 40}}}}))
    spec = release.one("Deployment", "worker-default")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 40 + GRACE_MARGIN_SECONDS


def test_processes_differ_only_by_command(full_release: Rendered) -> None:
    containers = {
        component: (spec["containers"][0]["image"], spec["containers"][0]["args"])
        for component, spec in full_release.pod_specs().items()
    }
    assert containers == {
        "web": (f"{DEFAULT_SLUG}:0.1.0", ["web"]),
        "migrate": (f"{DEFAULT_SLUG}:0.1.0", ["migrate"]),
        "worker-default": (f"{DEFAULT_SLUG}:0.1.0", ["worker", "--queue", "default"]),
        "worker-scheduled": (f"{DEFAULT_SLUG}:0.1.0", ["worker", "--queue", "scheduled"]),
    }


def test_queues_setting_holds_every_queue_with_its_settings(default_release: Rendered) -> None:
    queues = json.loads(default_release.one("ConfigMap", "config")["data"]["QUEUES"])
    assert queues == {
        name: {"max_jobs": jobs, "drain_seconds": drain, "poll_delay_seconds": poll}
        for name, (jobs, drain, poll) in SHIPPED_QUEUES.items()
    }


def test_web_and_every_worker_read_the_same_queues(default_release: Rendered) -> None:
    """Web enqueues by name and each worker serves one: all read QUEUES from one ConfigMap."""
    config = default_release.one("ConfigMap", "config")["metadata"]["name"]
    config_maps = {
        component: [
            s["configMapRef"]["name"] for s in spec["containers"][0]["envFrom"] if "configMapRef" in s
        ]
        for component, spec in default_release.pod_specs().items()
        if component != "migrate"
    }
    assert config_maps == {c: [config] for c in ("web", *WORKERS)}


def test_queue_settings_do_not_linger_as_single_worker_settings(default_release: Rendered) -> None:
    data = default_release.one("ConfigMap", "config")["data"]
    old = {"QUEUE_NAME", "WORKER_MAX_JOBS", "WORKER_POLL_DELAY_SECONDS", "WORKER_DRAIN_SECONDS"}
    assert (old & set(data), data["QUEUE_PREFIX"]) == (set(), "acme_reports:queue")


def test_large_queue_numbers_reach_the_pods_as_integers(chart: Chart) -> None:
    release = chart.render(merged(SECRETS, {"workers": {"queues": {"default": {"maxJobs": 1000000}}}}))
    text = release.one("ConfigMap", "config")["data"]["QUEUES"]
    assert '"max_jobs":1000000' in text


def test_settings_change_rolls_the_pods(chart: Chart, default_release: Rendered) -> None:
    changed = chart.render(merged(SECRETS, {"workers": {"queues": {"default": {"maxJobs": 20}}}}))

    def checksums(release: Rendered) -> list[str]:
        pods = [release.one("Deployment", c)["spec"]["template"] for c in ("web", *WORKERS)]
        return [str(pod["metadata"]["annotations"]["checksum/config"]) for pod in pods]

    assert [a != b for a, b in zip(checksums(changed), checksums(default_release), strict=True)] == [
        True,
        True,
        True,
    ]


def test_large_whole_numbers_render_as_integers(chart: Chart) -> None:
    """Helm reads numbers as floats; 2592000 must not reach the service as 2.592e+06."""
    config = {"JOB_KEEP_RESULT_SECONDS": 2592000, "REDIS_SOCKET_TIMEOUT_SECONDS": 0.5}
    release = chart.render(merged(SECRETS, {"config": config}))
    data = release.one("ConfigMap", "config")["data"]
    assert (data["JOB_KEEP_RESULT_SECONDS"], data["REDIS_SOCKET_TIMEOUT_SECONDS"]) == ("2592000", "0.5")


def test_json_settings_reach_the_pods_verbatim(default_release: Rendered) -> None:
    data = default_release.one("ConfigMap", "config")["data"]
    routes = json.loads(data["RATE_LIMIT_ROUTES"])
    assert (routes["POST /v1/reports"]["quota"], json.loads(data["TRUSTED_PROXIES"])) == (30, [])


# --- migrations hook ---------------------------------------------------------------------------


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(default_release: Rendered) -> None:
    job = default_release.one("Job", "migrate")
    annotations = job["metadata"]["annotations"]
    assert (annotations["helm.sh/hook"], job["spec"]["parallelism"], job["spec"]["completions"]) == (
        HOOK_EVENTS,
        1,
        1,
    )


def test_migration_job_reads_its_own_hook_config(default_release: Rendered) -> None:
    """Before install the release's ConfigMap and Secret do not exist yet; the Job must not need them."""
    job = default_release.one("Job", "migrate")
    hook_config = [
        manifest
        for manifest in default_release.manifests
        if manifest["kind"] in {"ConfigMap", "Secret"}
        and manifest["metadata"].get("annotations", {}).get("helm.sh/hook") == HOOK_EVENTS
    ]
    sources = job["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    referenced = {next(iter(source.values()))["name"] for source in sources}
    assert (
        sorted(m["kind"] for m in hook_config),
        referenced == {m["metadata"]["name"] for m in hook_config},
        all(hook_weight(m) < hook_weight(job) for m in hook_config),
    ) == (["ConfigMap", "Secret"], True, True)


def test_hook_config_carries_the_release_settings(default_release: Rendered) -> None:
    release_config = default_release.one("ConfigMap", "config")["data"]
    hook_config = default_release.one("ConfigMap", "migrate")["data"]
    assert hook_config == release_config


def test_migrations_can_be_turned_off(chart: Chart) -> None:
    release = chart.render(merged(SECRETS, {"migrations": {"enabled": False}}))
    hooks = [m for m in release.manifests if "helm.sh/hook" in m["metadata"].get("annotations", {})]
    assert hooks == []


# --- scaling -----------------------------------------------------------------------------------


def test_fixed_replica_counts_by_default(default_release: Rendered) -> None:
    replicas = {c: default_release.one("Deployment", c)["spec"]["replicas"] for c in ("web", *WORKERS)}
    assert (
        replicas,
        default_release.all("HorizontalPodAutoscaler"),
        default_release.all("ScaledObject"),
    ) == (
        {"web": 2, "worker-default": 2, "worker-scheduled": 2},
        [],
        [],
    )


def test_autoscalers_own_the_replica_counts(chart: Chart) -> None:
    on = {"autoscaling": {"enabled": True}}
    values = merged(SECRETS, {"web": on, "workers": {"queues": {name: on for name in SHIPPED_QUEUES}}})
    release = chart.render(values)
    targets = sorted(hpa["spec"]["scaleTargetRef"]["name"] for hpa in release.all("HorizontalPodAutoscaler"))
    assert (
        targets,
        ["replicas" in release.one("Deployment", c)["spec"] for c in ("web", *WORKERS)],
    ) == (
        ["prod-acme-reports-web", "prod-acme-reports-worker-default", "prod-acme-reports-worker-scheduled"],
        [False, False, False],
    )


@pytest.mark.parametrize(("component", "threshold"), [("worker-default", "50"), ("worker-scheduled", "4")])
def test_keda_scales_each_queue_on_its_own_ready_backlog(
    full_release: Rendered, component: str, threshold: str
) -> None:
    scaled = full_release.one("ScaledObject", component)
    (trigger,) = scaled["spec"]["triggers"]
    assert (
        scaled["spec"]["scaleTargetRef"]["name"],
        trigger["type"],
        trigger["metricType"],
        trigger["metadata"]["query"],
        trigger["metadata"]["threshold"],
        "replicas" in full_release.one("Deployment", component)["spec"],
    ) == (
        f"prod-acme-reports-{component}",
        "prometheus",
        "AverageValue",
        f'max(chassis_queue_ready_jobs{{queue="{WORKERS[component]}"}})',
        threshold,
        False,
    )


@pytest.mark.parametrize(("component", "replicas"), [("worker-default", 4), ("worker-scheduled", 2)])
def test_keda_holds_fallback_replicas_when_the_backlog_cannot_be_read(
    full_release: Rendered, component: str, replicas: int
) -> None:
    """An empty query result is an error (not 0), so fallback covers a missing series too."""
    spec = full_release.one("ScaledObject", component)["spec"]
    assert (spec["fallback"], spec["triggers"][0]["metadata"]["ignoreNullValues"]) == (
        {"failureThreshold": 3, "replicas": replicas},
        "false",
    )


@pytest.mark.parametrize(
    ("component", "scale_down"),
    [
        (
            "worker-default",
            {
                "stabilizationWindowSeconds": 300,
                "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
            },
        ),
        (
            "worker-scheduled",
            {
                "stabilizationWindowSeconds": 600,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 180}],
            },
        ),
    ],
)
def test_keda_paces_scale_down_through_the_hpa_behavior(
    full_release: Rendered, component: str, scale_down: dict[str, Any]
) -> None:
    """Not cooldownPeriod: KEDA applies that only to scaling to zero."""
    spec = full_release.one("ScaledObject", component)["spec"]
    assert (
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        "cooldownPeriod" in spec,
        (spec["minReplicaCount"], spec["maxReplicaCount"]),
    ) == ({"scaleDown": scale_down}, False, (1, 20 if component == "worker-default" else 4))


def test_keda_is_chosen_per_queue(chart: Chart) -> None:
    values = merged(
        SECRETS,
        {
            "workers": {
                "keda": {"serverAddress": "http://prometheus.monitoring:9090"},
                "queues": {"scheduled": {"keda": {"enabled": True}}},
            }
        },
    )
    release = chart.render(values)
    scaled = [component_of(s) for s in release.all("ScaledObject")]
    assert (scaled, release.one("Deployment", "worker-default")["spec"]["replicas"]) == (
        ["worker-scheduled"],
        2,
    )


def test_keda_and_a_queue_hpa_exclude_each_other(chart: Chart) -> None:
    values = merged(ALL_ON, {"workers": {"queues": {"default": {"autoscaling": {"enabled": True}}}}})
    assert "enable one of workers.queues.default.autoscaling and workers.queues.default.keda" in render_error(
        chart, values
    )


def test_keda_needs_a_prometheus_address(chart: Chart) -> None:
    values = merged(SECRETS, {"workers": {"queues": {"default": {"keda": {"enabled": True}}}}})
    assert "workers.keda.serverAddress" in render_error(chart, values)


def test_keda_minimum_above_maximum_fails_rendering(chart: Chart) -> None:
    values = merged(ALL_ON, {"workers": {"queues": {"scheduled": {"keda": {"minReplicas": 5}}}}})
    assert "workers.queues.scheduled.keda.minReplicas must not be above" in render_error(chart, values)


def test_disruption_budgets_never_block_a_drain(default_release: Rendered) -> None:
    budgets = {component_of(pdb): pdb["spec"] for pdb in default_release.all("PodDisruptionBudget")}
    assert {c: spec.get("maxUnavailable") for c, spec in budgets.items()} == {
        "web": 1,
        "worker-default": 1,
        "worker-scheduled": 1,
    }


def test_each_disruption_budget_covers_only_its_own_queue(default_release: Rendered) -> None:
    covered = {
        component: sorted(
            other for other in WORKERS if selects(pdb["spec"]["selector"], pod_labels(default_release, other))
        )
        for component in WORKERS
        for pdb in [default_release.one("PodDisruptionBudget", component)]
    }
    assert covered == {component: [component] for component in WORKERS}


def test_a_queue_budget_can_be_turned_off(chart: Chart) -> None:
    off = {"podDisruptionBudget": {"enabled": False}}
    release = chart.render(merged(SECRETS, {"workers": {"queues": {"scheduled": off}}}))
    assert sorted(map(component_of, release.all("PodDisruptionBudget"))) == ["web", "worker-default"]


# --- traffic and monitoring --------------------------------------------------------------------


def test_ingress_routes_to_the_web_service(full_release: Rendered) -> None:
    ingress = full_release.one("Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = full_release.one("Service", "web")
    assert (backend["name"], backend["port"]["name"]) == (
        service["metadata"]["name"],
        service["spec"]["ports"][0]["name"],
    )


def test_service_monitor_scrapes_the_web_service(full_release: Rendered) -> None:
    monitor = full_release.one("ServiceMonitor")
    service = full_release.one("Service", "web")
    endpoint = monitor["spec"]["endpoints"][0]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items(),
        endpoint["port"],
        endpoint["path"],
        monitor["metadata"]["labels"]["release"],
    ) == (True, "http", "/metrics", "prometheus")


def test_pod_monitor_scrapes_the_worker_pods_of_every_queue(full_release: Rendered) -> None:
    monitor = full_release.one("PodMonitor")
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    scraped = {}
    for component in ("web", *WORKERS):
        pod = full_release.one("Deployment", component)["spec"]["template"]
        ports = [port["name"] for port in pod["spec"]["containers"][0]["ports"]]
        scraped[component] = selects(monitor["spec"]["selector"], pod["metadata"]["labels"]) and (
            endpoint["port"] in ports
        )
    assert (scraped, endpoint["path"]) == (
        {"web": False, "worker-default": True, "worker-scheduled": True},
        "/metrics",
    )


def test_scrape_jobs_are_named_as_in_compose(full_release: Rendered) -> None:
    jobs = [
        full_release.one("ServiceMonitor")["spec"]["endpoints"][0]["relabelings"][0]["replacement"],
        full_release.one("PodMonitor")["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["replacement"],
    ]
    assert jobs == [f"{DEFAULT_SLUG}-web", f"{DEFAULT_SLUG}-worker"]


def test_prometheus_rule_carries_the_projects_alert_rules(project: Project, full_release: Rendered) -> None:
    """The rules are deploy/prometheus/alerts.yml; a project without that file gets no rule."""
    source = project.path / "deploy" / "prometheus" / "alerts.yml"
    expected = [yaml.safe_load(source.read_text())] if source.is_file() else []
    assert [rule["spec"] for rule in full_release.all("PrometheusRule")] == expected


def test_chart_copy_of_the_alert_rules_matches_the_source(project: Project) -> None:
    source = project.path / "deploy" / "prometheus" / "alerts.yml"
    copy_ = project.path / "deploy" / "helm" / "files" / "alerts.yml"
    assert (copy_.is_file(), copy_.read_bytes() if copy_.is_file() else None) == (
        source.is_file(),
        source.read_bytes() if source.is_file() else None,
    )


# --- network policies --------------------------------------------------------------------------


def network_values(**egress: list[dict[str, Any]]) -> dict[str, Any]:
    """Network policy on, Postgres and Redis named, plus the given egress peers."""
    named = {
        "postgres": [{"ipBlock": {"cidr": "10.20.0.0/24"}}],
        "redis": [{"ipBlock": {"cidr": "10.30.0.0/24"}}],
    }
    return merged(
        SECRETS,
        {
            "networkPolicy": {
                "enabled": True,
                "egress": {k: {"to": v} for k, v in {**named, **egress}.items()},
            }
        },
    )


def pod_templates(release: Rendered) -> dict[str, dict[str, Any]]:
    return {
        component_of(manifest): manifest["spec"]["template"]
        for manifest in release.manifests
        if manifest["kind"] in {"Deployment", "Job"}
    }


def policy(release: Rendered, component: str) -> dict[str, Any]:
    spec: dict[str, Any] = release.one("NetworkPolicy", component)["spec"]
    return spec


def egress_ports(release: Rendered, component: str) -> list[list[int]]:
    return [[port["port"] for port in rule["ports"]] for rule in policy(release, component)["egress"]]


def test_no_network_policy_by_default(default_release: Rendered) -> None:
    assert default_release.all("NetworkPolicy") == []


def test_every_pod_is_isolated_both_ways_by_one_policy(full_release: Rendered) -> None:
    covering = {
        component: [
            (component_of(netpol), netpol["spec"]["policyTypes"])
            for netpol in full_release.all("NetworkPolicy")
            if selects(netpol["spec"]["podSelector"], pod["metadata"]["labels"])
        ]
        for component, pod in pod_templates(full_release).items()
    }
    both = ["Ingress", "Egress"]
    assert covering == {
        "web": [("web", both)],
        "worker-default": [("worker", both)],
        "worker-scheduled": [("worker", both)],
        "migrate": [("migrate", both)],
    }


def test_web_admits_the_ingress_controller_and_prometheus_on_its_port(
    chart: Chart, full_release: Rendered
) -> None:
    """Both by the port's name, which the web container declares (metrics share the API port)."""
    values = yaml.safe_load((chart.path / "values.yaml").read_text())["networkPolicy"]
    container = full_release.one("Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    rules = [
        (rule["from"], [port["port"] for port in rule["ports"]])
        for rule in policy(full_release, "web")["ingress"]
    ]
    assert (rules, [port["name"] for port in container["ports"]]) == (
        [(values["ingressController"], ["http"]), (values["prometheus"], ["http"])],
        ["http"],
    )


def test_workers_admit_only_prometheus_on_the_port_it_scrapes(chart: Chart, full_release: Rendered) -> None:
    """The probes share that port, but kubelet probes are not subject to NetworkPolicy."""
    prometheus = yaml.safe_load((chart.path / "values.yaml").read_text())["networkPolicy"]["prometheus"]
    scraped = full_release.one("PodMonitor")["spec"]["podMetricsEndpoints"][0]["port"]
    rules = [
        (rule["from"], [port["port"] for port in rule["ports"]])
        for rule in policy(full_release, "worker")["ingress"]
    ]
    assert rules == [(prometheus, [scraped])]


def test_the_migration_job_admits_nothing(full_release: Rendered) -> None:
    assert policy(full_release, "migrate")["ingress"] == []


def test_egress_goes_only_to_the_destinations_each_process_needs(full_release: Rendered) -> None:
    """DNS, Postgres, Redis, the collector and the extra rule; SMTP and the webhook for workers."""
    assert {
        component: egress_ports(full_release, component) for component in ("web", "worker", "migrate")
    } == {
        "web": [[53, 53], [5432], [6379], [4318], [8443]],
        "worker": [[53, 53], [5432], [6379], [4318], [587], [443], [8443]],
        "migrate": [[53, 53], [5432], [4318]],
    }


def test_egress_rules_name_their_peers(full_release: Rendered) -> None:
    """A rule without peers would allow its ports to every address: each one names its own."""
    rules = [
        rule
        for component in ("web", "worker", "migrate")
        for rule in policy(full_release, component)["egress"]
    ]
    assert [rule for rule in rules if not rule.get("to")] == []


def test_optional_destinations_are_left_out_until_named(chart: Chart) -> None:
    assert egress_ports(chart.render(network_values()), "worker") == [[53, 53], [5432], [6379]]


def test_dns_without_peers_is_port_53_to_any_address(otherwise_release: Rendered) -> None:
    """For a node-local DNS cache, say; every other destination still names its peers."""
    dns = policy(otherwise_release, "web")["egress"][0]
    assert ("to" in dns, [port["port"] for port in dns["ports"]]) == (False, [53, 53])


def test_no_prometheus_peers_closes_the_workers_to_all_ingress(otherwise_release: Rendered) -> None:
    assert policy(otherwise_release, "worker")["ingress"] == []


@pytest.mark.parametrize(("destination", "setting"), [("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")])
def test_network_policy_needs_the_database_and_redis_peers(
    chart: Chart, destination: str, setting: str
) -> None:
    values = network_values(**{destination: []})
    assert f"networkPolicy.egress.{destination}.to must name where {setting}" in render_error(chart, values)


@pytest.mark.parametrize(
    ("config", "destination"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318"}, "otlp"),
        ({"DIGEST_NOTIFIER": "smtp"}, "smtp"),
        ({"DIGEST_NOTIFIER": "webhook"}, "webhook"),
    ],
)
def test_a_destination_the_settings_use_must_be_named(
    chart: Chart, config: dict[str, str], destination: str
) -> None:
    values = merged(network_values(), {"config": config})
    assert f"networkPolicy.egress.{destination}.to must name" in render_error(chart, values)


def test_schema_refuses_an_ip_block_with_a_selector(chart: Chart) -> None:
    peer = {"ipBlock": {"cidr": "10.20.0.0/24"}, "podSelector": {"matchLabels": {"app": "db"}}}
    assert "/networkPolicy/egress/postgres/to/0': maxProperties" in render_error(
        chart, network_values(postgres=[peer])
    )


# --- Kubernetes schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("release_name", RELEASES)
def test_manifests_match_the_kubernetes_api(
    request: pytest.FixtureRequest, release_name: str, kube_version: str
) -> None:
    """Strict validation: an unknown or misspelt field (e.g. readOnlyRootFileSystem) fails."""
    validate = tool("kubernetes_validate")
    release: Rendered = request.getfixturevalue(release_name)
    failures = []
    for manifest in release.manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        try:
            validate.validate(copy.deepcopy(manifest), kube_version, strict=True)
        except validate.ValidationError as exc:
            failures.append(f"{manifest['kind']} {manifest['metadata']['name']}: {exc.message}")
    assert failures == []


def test_only_known_custom_resources_are_rendered(full_release: Rendered) -> None:
    core = {"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job"}
    core |= {"NetworkPolicy", "PodDisruptionBudget", "Secret", "Service"}
    assert set(full_release.kinds()) - core <= CRD_KINDS


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """What the upstream CRD's schema (closed to undeclared fields) says about a custom resource."""
    jsonschema = tool("jsonschema")
    schema = crd_schemas(CRD_DIR)[(manifest["apiVersion"], manifest["kind"])]
    return [
        f"{manifest['kind']} {manifest['metadata']['name']} {error.json_path}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(manifest)
    ]


def test_custom_resources_match_their_upstream_crds(full_release: Rendered) -> None:
    """KEDA's ScaledObject and the Prometheus Operator's monitors and rule, every kind rendered."""
    resources = [m for m in full_release.manifests if m["kind"] in CRD_KINDS]
    errors = [error for manifest in resources for error in crd_errors(manifest)]
    assert (sorted({m["kind"] for m in resources}), errors) == (sorted(CRD_KINDS), [])


@pytest.mark.parametrize("kind", sorted(CRD_KINDS))
def test_crd_check_catches_a_misspelt_field(full_release: Rendered, kind: str) -> None:
    """The check above can fail: an undeclared field in a spec is refused, as a strict API server does."""
    broken = copy.deepcopy(full_release.all(kind)[0])
    broken["spec"]["selectr"] = {}
    assert any("'selectr' was unexpected" in error for error in crd_errors(broken))


# --- the generated chart versus the template ---------------------------------------------------


def test_chart_templates_equal_the_template_source_but_for_the_chart_name(project: Project) -> None:
    source = TEMPLATE_CHART / "templates"
    generated = project.path / "deploy" / "helm" / "templates"
    expected = {p.name: p.read_text().replace("CHARTNAME", DEFAULT_SLUG) for p in source.iterdir()}
    actual = {p.name: p.read_text() for p in generated.iterdir()}
    assert actual == expected


def test_chart_is_named_after_the_project(bake) -> None:  # type: ignore[no-untyped-def]
    project: Project = bake(project_name="Billing Core")
    helm = project.path / "deploy" / "helm"
    chart_yaml = yaml.safe_load((helm / "Chart.yaml").read_text())
    helpers = (helm / "templates" / "_helpers.tpl").read_text()
    assert (chart_yaml["name"], 'define "billing-core.fullname"' in helpers, "CHARTNAME" in helpers) == (
        "billing-core",
        True,
        False,
    )


def test_renamed_chart_renders(bake) -> None:  # type: ignore[no-untyped-def]
    project: Project = bake(project_name="Billing Core")
    chart = Chart(project.path / "deploy" / "helm", tool("helm_python.chart"))
    names = sorted(m["metadata"]["name"] for m in chart.render(SECRETS).all("Deployment"))
    assert names == [
        "prod-billing-core-web",
        "prod-billing-core-worker-default",
        "prod-billing-core-worker-scheduled",
    ]


def test_tracing_settings_reach_the_pods_through_the_config_map(chart: Chart) -> None:
    endpoint = "http://otel-collector.monitoring:4318"
    release = chart.render(merged(SECRETS, {"config": {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}}))
    assert release.one("ConfigMap", "config")["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint


def test_schema_refuses_an_exporter_the_service_lacks(chart: Chart) -> None:
    assert "OTEL_TRACES_EXPORTER" in render_error(chart, {"config": {"OTEL_TRACES_EXPORTER": "jaeger"}})
