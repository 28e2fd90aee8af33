"""Remove what the answers turned off, finish the Helm chart, and record the template for cruft.

Importable: `finish(root, answers, template_dir)` does the work and tests/test_hooks.py calls it
directly. Never touches the network: the generated project installs its own dependencies later.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Rendered by cookiecutter when this file runs as the hook; inert text when it is imported.
# Jinja's tojson writes every single quote as \u0027, so nothing in it can end this raw string.
RENDERED_ANSWERS = r"""{{ cookiecutter | tojson }}"""
# cookiecutter renders hooks from inside the template folder, so "." is the template, absolute,
# even when it was given as a relative path (which `_template` and `_repo_dir` keep as typed).
RENDERED_TEMPLATE_DIR = r"""{{ "." | absolute_path }}"""

# Booleans arrive as True/False from cookiecutter.json and as text from `key=value` on the CLI.
TRUTHY = {"true", "yes", "y", "1", "on"}
# Paths (relative to the project) that exist only when their option is on.
MANIFEST: dict[str, list[str]] = {
    "use_compose": ["compose.yaml", "deploy/prometheus/prometheus.yml"],
    "use_helm": ["deploy/helm", "tests/test_helm_values.py"],
}
# Prometheus and Grafana files have template braces of their own, so cookiecutter copies them
# verbatim (`_copy_without_render`) and these placeholders in them become the project's names here.
VERBATIM_DIRS = ["deploy/prometheus", "deploy/grafana"]
# Chart templates are copied unrendered (Helm uses the same braces); their helpers say CHARTNAME.
CHART_TEMPLATES = "deploy/helm/templates"
# One set of alert rules: compose's Prometheus mounts the file, the chart's PrometheusRule embeds a copy.
ALERT_RULES = "deploy/prometheus/alerts.yml"
CHART_ALERT_RULES = "deploy/helm/files/alerts.yml"
# cookiecutter's built-in abbreviations; cruft clones the template by URL and knows none of them.
ABBREVIATIONS = {
    "gh:": "https://github.com/{}.git",
    "gl:": "https://gitlab.com/{}.git",
    "bb:": "https://bitbucket.org/{}",
}


def is_on(value: object) -> bool:
    return str(value).lower() in TRUTHY


def remove_disabled(root: Path, answers: Mapping[str, object]) -> None:
    for option, paths in MANIFEST.items():
        if is_on(answers.get(option, True)):
            continue
        for relative in paths:
            target = root / relative.format(package=answers.get("package_name", ""))
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    # Folders that only held removed files go too.
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def fill_placeholders(root: Path, answers: Mapping[str, object]) -> None:
    placeholders = {
        "<METRIC_PREFIX>": str(answers["package_name"]),
        "<PROJECT_SLUG>": str(answers["project_slug"]),
        "<PROJECT_NAME>": json.dumps(str(answers["project_name"]))[1:-1],  # lands in a JSON string
    }
    for folder in VERBATIM_DIRS:
        for path in sorted((root / folder).glob("*")):
            text = path.read_text()
            for placeholder, value in placeholders.items():
                text = text.replace(placeholder, value)
            path.write_text(text)


def finish_chart(root: Path, answers: Mapping[str, object]) -> None:
    """Name the chart's helpers after the project, and give its PrometheusRule the alert rules."""
    templates = root / CHART_TEMPLATES
    if not templates.is_dir():
        return
    for template in templates.iterdir():
        template.write_text(template.read_text().replace("CHARTNAME", str(answers["project_slug"])))
    rules = root / ALERT_RULES
    if rules.is_file():
        copy = root / CHART_ALERT_RULES
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rules, copy)


def git_commit(template_dir: Path) -> str | None:
    """The commit the template folder has checked out, or None if it is not a git checkout."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(template_dir), "rev-parse", "--verify", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit else None


def template_source(template: str, template_dir: Path) -> str:
    """Where cruft finds the template again: an absolute folder, or a URL git can clone."""
    for prefix, url in ABBREVIATIONS.items():
        if template.startswith(prefix):
            return url.format(template.removeprefix(prefix))
    if "://" in template or template.startswith("git@"):
        return template
    return str(template_dir)


def record_template(root: Path, answers: Mapping[str, object], template_dir: Path) -> str | None:
    """Record the template and its commit for `cruft update`; without a commit, record nothing.

    A `.cruft.json` without a commit makes `cruft check` answer "up to date" whatever changed, so
    a template that is not a git checkout gets no `.cruft.json` at all (README: `cruft link`).
    Returns a note for the user, or None.
    """
    state_file = root / ".cruft.json"
    if "_commit" in answers:
        return None  # cruft is baking: it writes .cruft.json itself, with the commit it cloned
    commit = git_commit(template_dir)
    if commit is None:
        state_file.unlink(missing_ok=True)
        return (
            f"note: {template_dir} is not a git checkout, so no .cruft.json was written; "
            "link the project to the template's repository later with `cruft link <url>`"
        )
    state = json.loads(state_file.read_text())
    state["template"] = template_source(str(answers.get("_template", template_dir)), template_dir)
    state["context"]["cookiecutter"]["_template"] = state["template"]
    state["commit"] = commit
    state_file.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")
    return None


def finish(root: Path, answers: Mapping[str, object], template_dir: Path) -> str | None:
    remove_disabled(root, answers)
    fill_placeholders(root, answers)
    finish_chart(root, answers)  # after the placeholders: the chart carries the filled-in alert rules
    return record_template(root, answers, template_dir)


def main() -> int:
    note = finish(Path.cwd(), json.loads(RENDERED_ANSWERS), Path(RENDERED_TEMPLATE_DIR))
    if note:
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
