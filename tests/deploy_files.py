"""Reading the generated deploy files the way their real tools do: Docker, Helm and Kubernetes.

There is no Docker engine, Helm binary or cluster here. Helm's own Go library (helm-python-sdk)
lints and renders the chart offline, kubernetes-validate holds Kubernetes' OpenAPI schemas, the
upstream CRDs in ../shared/schemas give the custom resources' schemas (read with jsonschema), and
the Dockerfile and .dockerignore are parsed by the rules Docker documents.
"""

import importlib
import json
import posixpath
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

# Kinds the chart renders that come from CRDs (Prometheus Operator, KEDA): no built-in schema.
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"}
# Severity of Helm lint messages: 1 info, 2 warning, 3 error.
LINT_WARNING = 2

SECRETS = {
    "secret": {
        "databaseUrl": "postgresql+asyncpg://app:s3cret@db.internal:5432/app",
        "redisUrl": "rediss://:s3cret@redis.internal:6380/0",
    }
}
# The queues the template ships, with the settings of DESIGN.md: (max_jobs, drain_seconds, poll_delay).
SHIPPED_QUEUES = {"default": (50, 25, 0.05), "scheduled": (4, 150, 0.5)}
# Every optional part of the chart switched on (KEDA and a queue's HPA exclude each other, so every
# queue scales with KEDA and the web tier with its HPA).
ALL_ON = {
    **SECRETS,
    "imagePullSecrets": [{"name": "registry"}],
    "serviceAccountName": "reports",
    "podAnnotations": {"team": "platform"},
    "podLabels": {"tier": "backend"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "jobs", "effect": "NoSchedule"}],
    "extraEnv": [{"name": "FEATURE_FLAG", "value": "on"}],
    "web": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": [{"host": "api.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "api-tls", "hosts": ["api.example.com"]}],
        },
        "autoscaling": {"enabled": True},
    },
    "workers": {
        "keda": {"serverAddress": "http://prometheus.monitoring:9090"},
        "queues": {name: {"keda": {"enabled": True}} for name in SHIPPED_QUEUES},
    },
    "monitoring": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "podMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
    },
    # Tracing and the SMTP digest on, so that their egress rules are required and rendered.
    "config": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4318",
        "DIGEST_NOTIFIER": "smtp",
    },
    "networkPolicy": {
        "enabled": True,
        "egress": {
            "postgres": {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}]},
            "redis": {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}]},
            "otlp": {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                        "podSelector": {
                            "matchExpressions": [
                                {"key": "app", "operator": "In", "values": ["otel-collector"]}
                            ]
                        },
                    }
                ]
            },
            "smtp": {"to": [{"ipBlock": {"cidr": "192.0.2.25/32"}}]},
            "webhook": {"to": [{"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.1/32"]}}]},
        },
        "extraEgress": [
            {
                "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
                "ports": [{"port": 8443, "endPort": 8450, "protocol": "TCP"}],
            }
        ],
    },
}
# The branches ALL_ON cannot take at once: a Secret of the user's, CPU autoscalers on the queues
# instead of KEDA, no budgets, spread or migrations, a network policy with DNS anywhere on port 53
# and no Prometheus peers, and the webhook digest.
ALL_ON_OTHERWISE = {
    "secret": {"existingSecret": "reports-credentials"},
    "topologySpread": False,
    "web": {"ingress": {"enabled": True}, "podDisruptionBudget": {"enabled": False}},
    "workers": {
        "queues": {
            name: {"autoscaling": {"enabled": True}, "podDisruptionBudget": {"enabled": False}}
            for name in SHIPPED_QUEUES
        }
    },
    "migrations": {"enabled": False},
    "config": {"DIGEST_NOTIFIER": "webhook"},
    "networkPolicy": {
        "enabled": True,
        "prometheus": [],
        "egress": {
            "dns": {"to": []},
            "postgres": {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}]},
            "redis": {"to": [{"ipBlock": {"cidr": "10.30.0.0/24"}}]},
            "webhook": {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]},
        },
    },
}


def crd_schemas(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The schema of each custom resource, by (apiVersion, kind), from the CRD files in `directory`.

    A CRD's openAPIV3Schema is structural: the API server drops (or, with strict field validation,
    refuses) a field it does not declare, where a JSON schema would let it through. `closed` makes
    jsonschema refuse it too, so a misspelt field fails here as on a strict cluster.
    """
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = closed(version["schema"]["openAPIV3Schema"])
    return schemas


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a structural schema whose objects refuse undeclared fields.

    Objects that keep unknown fields (x-kubernetes-preserve-unknown-fields) or are maps
    (additionalProperties) stay open; anyOf/allOf/oneOf/not only constrain values in a
    structural schema, so they are left as they are.
    """
    result = dict(schema)
    if "properties" in schema:
        result["properties"] = {name: closed(field) for name, field in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            result["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            result[key] = closed(schema[key])
    return result


def tool(module: str) -> ModuleType:
    """Import a test tool from tests/requirements.txt; its absence fails the test, never skips it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"{module} is missing: run the tests through scripts/test.sh, which installs "
            "tests/requirements.txt",
            pytrace=False,
        )


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge value layers, later ones winning, as `helm -f a.yaml -f b.yaml` does."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = value
    return result


@dataclass
class Rendered:
    """The manifests of one `helm template`, and the notes Helm would print."""

    manifests: list[dict[str, Any]]
    notes: str = ""

    def kinds(self) -> list[str]:
        return sorted(manifest["kind"] for manifest in self.manifests)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [manifest for manifest in self.manifests if manifest["kind"] == kind]

    def one(self, kind: str, component: str | None = None) -> dict[str, Any]:
        found = [
            manifest
            for manifest in self.all(kind)
            if component is None or component_of(manifest) == component
        ]
        assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
        return found[0]

    def pod_specs(self) -> dict[str, dict[str, Any]]:
        """Pod specs of every workload, by component."""
        return {
            component_of(manifest): manifest["spec"]["template"]["spec"]
            for manifest in self.manifests
            if manifest["kind"] in {"Deployment", "Job"}
        }


def component_of(manifest: dict[str, Any]) -> str:
    labels: dict[str, str] = manifest["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component", "")


def hook_weight(manifest: dict[str, Any]) -> int:
    return int(manifest["metadata"]["annotations"]["helm.sh/hook-weight"])


@dataclass
class Chart:
    path: Path
    helm: ModuleType = field(repr=False)

    def lint_problems(self, values: dict[str, Any] | None, kube_version: str) -> list[str]:
        """Helm's linter in strict mode: warnings and errors (info lines are advice, e.g. an icon)."""
        report = self.helm.lint(self.path, values, strict=True, kube_version=kube_version)
        return [
            f"{message['path']}: {message['error']}"
            for message in report["messages"]
            if message["severity"] >= LINT_WARNING
        ] + list(report["errors"])

    def render(self, values: dict[str, Any] | None = None, *, upgrade: bool = False) -> Rendered:
        loaded = self.helm.Chart.load(self.path)
        files = loaded.render(
            values,
            name="prod",
            namespace="reports",
            is_install=not upgrade,
            is_upgrade=upgrade,
        )
        manifests: list[dict[str, Any]] = []
        notes = ""
        for name, text in sorted(files.items()):
            if name.endswith("NOTES.txt"):
                notes = text
                continue
            manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
        return Rendered(manifests, notes)


# --- Dockerfile ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, or None for shell form."""
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Variables set by this stage's ENV lines (`ENV A=1 B="x y"`)."""
        variables: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                variables[key] = value
        return variables


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    @classmethod
    def parse(cls, text: str) -> "Dockerfile":
        # Join continuation lines; comments inside a continued instruction are dropped, as Docker does.
        logical: list[str] = []
        pending = ""
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") or not stripped:
                continue
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            logical.append(pending + stripped)
            pending = ""
        args: dict[str, str] = {}
        stages: list[Stage] = []
        for line in logical:
            keyword, _, arguments = line.partition(" ")
            instruction = Instruction(keyword.upper(), arguments.strip())
            if instruction.keyword == "FROM":
                parts = instruction.arguments.split()
                name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
                stages.append(Stage(parts[0], name, []))
            elif not stages and instruction.keyword == "ARG":
                key, _, default = instruction.arguments.partition("=")
                args[key] = default
            else:
                stages[-1].instructions.append(instruction)
        return cls(args, stages)

    @property
    def final(self) -> Stage:
        return self.stages[-1]


@dataclass
class ImageFiles:
    """Replays a Dockerfile's file-system instructions on this machine, with `/` at `root`.

    WORKDIR, ENV, COPY and RUN (with its bind and cache mounts) are followed; a COPY --from another
    image is skipped (its tool, uv, is already on this machine), and so are RUN lines that act on the
    base image rather than on the files.
    """

    context: Path
    root: Path
    env: dict[str, str]
    workdir: str = "/"

    def host(self, image_path: str) -> Path:
        return self.root / posixpath.join(self.workdir, image_path).lstrip("/")

    def apply(self, instruction: Instruction) -> None:
        if instruction.keyword == "WORKDIR":
            self.workdir = instruction.arguments
            self.host(".").mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "ENV":
            for key, value in Stage("", None, [instruction]).env().items():
                # Absolute paths in the image live under `root` here.
                self.env[key] = str(self.host(value)) if value.startswith("/") else value
        elif instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
            *sources, destination = shlex.split(instruction.arguments)
            for source in sources:
                self.copy(self.context / source, destination)
        elif instruction.keyword == "RUN":
            self.run(instruction.arguments)

    def copy(self, source: Path, destination: str) -> None:
        # Docker copies a folder's contents, and a file into a destination ending in "/".
        target = self.host(destination)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            return
        if destination.endswith("/"):
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)

    def run(self, arguments: str) -> None:
        words = shlex.split(arguments)
        mounts = [word for word in words if word.startswith("--mount=")]
        command = words[len(mounts) :]
        bound = []
        for mount in mounts:
            options = dict(item.split("=", 1) for item in mount.removeprefix("--mount=").split(","))
            if options["type"] == "bind":
                self.copy(self.context / options["source"], options["target"])
                bound.append(self.host(options["target"]))
        try:
            completed = subprocess.run(
                command, cwd=self.host("."), env=self.env, capture_output=True, text=True, timeout=600
            )
        finally:
            for path in bound:
                path.unlink()
        if completed.returncode != 0:
            pytest.fail(f"RUN {arguments} failed:\n{completed.stderr[-4000:]}", pytrace=False)


def dockerignore_includes(patterns: list[str], relative: str) -> bool:
    """Whether a path enters the build context under .dockerignore's rules (last match wins).

    A pattern that matches a parent folder matches everything in it; `*` stays within one path
    segment and `**` spans any number, as in Docker's Go implementation.
    """
    included = True
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = _dockerignore_regex(raw.lstrip("!").strip("/"))
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            out += pattern[index : end + 1]
            index = end + 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def dockerignore_patterns(project: Path) -> list[str]:
    lines = (project / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
