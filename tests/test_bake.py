"""Every supported combination bakes a complete project with nothing left unrendered, nothing
left of a turned-off option, and nothing of the default answers in a project that changed them."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml

from tests.conftest import (
    COMBINATIONS,
    DEFAULT_PACKAGE,
    DEFAULT_SLUG,
    TEMPLATE,
    Bake,
    Project,
    combination_id,
    project_files,
)

JINJA_LEFTOVER = re.compile(r"\{\{\s*cookiecutter\.|\{%-?\s|cookiecutter\.")
# What each option turns off, as words that must then appear nowhere in the project.
MENTIONS = {
    "use_compose": re.compile(r"compose", re.IGNORECASE),
    "use_helm": re.compile(
        r"\bhelm\b|\bchart\b|\bkeda\b|scaledobject|servicemonitor|podmonitor|prometheusrule", re.IGNORECASE
    ),
    "use_tracing": re.compile(r"opentelemetry|otel|tracing|traceparent", re.IGNORECASE),
}
# Packages of the tracing option. FastAPI itself requires opentelemetry-api, so that one stays.
TRACING_PACKAGES = re.compile(r'^name = "(opentelemetry-(?!api")[a-z-]+)"', re.MULTILINE)
# Files that legitimately record the answers themselves.
ANSWER_RECORDS = {".cruft.json"}


def texts(project: Project) -> dict[str, str]:
    return {
        str(path.relative_to(project.path)): path.read_text(errors="ignore")
        for path in project_files(project.path)
        if path.name != "uv.lock" and path.name not in ANSWER_RECORDS
    }


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_combination_bakes_without_leftovers(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    leftovers = [name for name, text in texts(project).items() if JINJA_LEFTOVER.search(text)]
    assert leftovers == []


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_turned_off_option_leaves_no_mention(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    mentions = [
        f"{name}: {match.group(0)!r} ({option}=no)"
        for option, pattern in MENTIONS.items()
        if not answers[option]
        for name, text in texts(project).items()
        for match in [pattern.search(name + "\n" + text)]
        if match
    ]
    assert mentions == []


@pytest.mark.parametrize("answers", COMBINATIONS[:4], ids=combination_id)
def test_options_remove_exactly_their_files(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    present = {
        relative: (project.path / relative).exists()
        for relative in [
            "compose.yaml",
            "deploy/prometheus/prometheus.yml",
            "deploy/helm",
            "tests/test_helm_values.py",
            f"src/{DEFAULT_PACKAGE}/core/tracing.py",
            f"src/{DEFAULT_PACKAGE}/jobs/_worker/tracing.py",
            "tests/test_tracing.py",
            "uv.without-tracing.lock",
        ]
    }
    compose, helm, tracing = answers["use_compose"], answers["use_helm"], answers["use_tracing"]
    assert present == {
        "compose.yaml": compose,
        "deploy/prometheus/prometheus.yml": compose,
        "deploy/helm": helm,
        "tests/test_helm_values.py": helm,
        f"src/{DEFAULT_PACKAGE}/core/tracing.py": tracing,
        f"src/{DEFAULT_PACKAGE}/jobs/_worker/tracing.py": tracing,
        "tests/test_tracing.py": tracing,
        "uv.without-tracing.lock": False,
    }


@pytest.mark.parametrize("tracing", [True, False])
def test_lock_file_holds_the_tracing_packages_only_with_tracing(bake: Bake, tracing: bool) -> None:
    project = bake(use_tracing=tracing)
    locked = TRACING_PACKAGES.findall((project.path / "uv.lock").read_text())
    assert ("opentelemetry-sdk" in locked, bool(locked)) == (tracing, tracing), locked


def test_boolean_answers_given_as_text_are_understood(bake: Bake) -> None:
    project = bake(use_compose="no", use_helm="yes")
    assert ((project.path / "compose.yaml").exists(), (project.path / "deploy/helm").exists()) == (
        False,
        True,
    )


def test_default_names_derive_from_project_name(bake: Bake) -> None:
    project = bake()
    assert (project.path.name, (project.path / "src" / DEFAULT_PACKAGE).is_dir()) == (DEFAULT_SLUG, True)


def test_other_project_carries_nothing_of_the_default_answers(bake: Bake) -> None:
    project = bake(project_name="Billing Hub", python_version="3.13", use_compose=False, use_helm=False)
    leaks = [
        f"{name}: {match.group(0)!r}"
        for name, text in texts(project).items()
        for match in [re.search(r"acme|reports service|platform team|platform@example", text, re.IGNORECASE)]
        if match
    ]
    assert leaks == []


def test_description_and_author_default_to_the_project(bake: Bake) -> None:
    project = bake(project_name="Billing Hub")
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())["project"]
    assert (pyproject["authors"], "Reports" in pyproject["description"]) == (
        [{"name": "Billing Hub maintainers", "email": "billing-hub@example.com"}],
        False,
    )


def test_every_prompt_has_a_label() -> None:
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    prompted = {key for key in context if not key.startswith("_")}
    assert prompted - set(context["__prompts__"]) == set()


def test_python_version_reaches_every_tool(bake: Bake) -> None:
    project = bake(python_version="3.13")
    pyproject = (project.path / "pyproject.toml").read_text()
    assert (
        (project.path / ".python-version").read_text().strip(),
        'target-version = "py313"' in pyproject,
        'python_version = "3.13"' in pyproject,
    ) == ("3.13", True, True)


def test_cruft_skip_list_lives_in_pyproject(bake: Bake) -> None:
    # cruft reads [tool.cruft] from pyproject.toml whether the project came from cookiecutter or
    # `cruft create` (which rewrites .cruft.json without the template's skip list).
    project = bake(project_name="Billing Core")
    state = json.loads((project.path / ".cruft.json").read_text())
    skip = tomllib.loads((project.path / "pyproject.toml").read_text())["tool"]["cruft"]["skip"]
    assert (state["context"]["cookiecutter"]["project_slug"], "skip" in state, skip) == (
        "billing-core",
        False,
        [".env", "uv.lock"],
    )


def test_every_yaml_file_parses(bake: Bake) -> None:
    project = bake()
    broken = []
    for path in project_files(project.path):
        if path.suffix in {".yaml", ".yml"} and "templates" not in path.parts:
            try:
                list(yaml.safe_load_all(path.read_text()))
            except yaml.YAMLError as exc:
                broken.append(f"{path}: {exc}")
    assert broken == []


def test_lock_file_names_the_project(bake: Bake) -> None:
    project = bake(project_name="Billing Core")
    lock = (project.path / "uv.lock").read_text()
    assert 'name = "billing-core"' in lock and DEFAULT_SLUG not in lock
