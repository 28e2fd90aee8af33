"""Remove what the answers turned off, finish the Helm chart, and record the template commit for cruft.

Never touches the network: the generated project installs its own dependencies later.
"""

import json
import shutil
import subprocess
from pathlib import Path

# Booleans arrive as True/False from cookiecutter.json and as text from `key=value` on the CLI.
TRUTHY = {"true", "yes", "y", "1", "on"}
ANSWERS = {
    "use_compose": "{{ cookiecutter.use_compose }}".lower() in TRUTHY,
    "use_helm": "{{ cookiecutter.use_helm }}".lower() in TRUTHY,
}
# cruft renders without _repo_dir; it records the commit itself.
REPO_DIR = "{{ cookiecutter._repo_dir | default('') }}"
PROJECT_NAME = {{ cookiecutter.project_name | tojson }}

# Prometheus and Grafana files have template braces of their own, so cookiecutter copies them
# verbatim (`_copy_without_render`) and these placeholders in them become the project's names here.
PLACEHOLDERS = {
    "<METRIC_PREFIX>": "{{ cookiecutter.package_name }}",
    "<PROJECT_SLUG>": "{{ cookiecutter.project_slug }}",
    "<PROJECT_NAME>": json.dumps(PROJECT_NAME)[1:-1],  # it lands inside a JSON string
}
VERBATIM_DIRS = ["deploy/prometheus", "deploy/grafana"]

# Paths (relative to the project) that exist only when their option is on.
MANIFEST: dict[str, list[str]] = {
    "use_compose": ["compose.yaml", "deploy/prometheus/prometheus.yml"],
    "use_helm": ["deploy/helm"],
}
# Chart templates are copied unrendered (Helm uses the same braces); their helpers say CHARTNAME.
CHART_TEMPLATES = "deploy/helm/templates"
CHART_NAME = "{{ cookiecutter.project_slug }}"
# One set of alert rules: compose's Prometheus mounts the file, the chart's PrometheusRule embeds a copy.
ALERT_RULES = "deploy/prometheus/alerts.yml"
CHART_ALERT_RULES = "deploy/helm/files/alerts.yml"


def remove_disabled(root: Path) -> None:
    for option, paths in MANIFEST.items():
        if ANSWERS[option]:
            continue
        for relative in paths:
            target = root / relative
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    # Folders that only held removed files go too.
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def finish_chart(root: Path) -> None:
    """Name the chart's helpers after the project, and give its PrometheusRule the alert rules."""
    templates = root / CHART_TEMPLATES
    if not templates.is_dir():
        return
    for template in templates.iterdir():
        template.write_text(template.read_text().replace("CHARTNAME", CHART_NAME))
    rules = root / ALERT_RULES
    if rules.is_file():
        copy = root / CHART_ALERT_RULES
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rules, copy)


def fill_placeholders(root: Path) -> None:
    for folder in VERBATIM_DIRS:
        for path in sorted((root / folder).glob("*")):
            text = path.read_text()
            for placeholder, value in PLACEHOLDERS.items():
                text = text.replace(placeholder, value)
            path.write_text(text)


def record_template_commit(root: Path) -> None:
    """Fill in the commit cruft diffs against on `cruft update`, when the template is a git clone."""
    if not REPO_DIR:
        return
    try:
        commit = subprocess.run(
            ["git", "-C", REPO_DIR, "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return
    state_file = root / ".cruft.json"
    state = json.loads(state_file.read_text())
    state["commit"] = commit
    state_file.write_text(json.dumps(state, indent=2) + "\n")


root = Path.cwd()
remove_disabled(root)
fill_placeholders(root)
finish_chart(root)  # after the placeholders: the chart carries the filled-in alert rules
record_template_commit(root)
