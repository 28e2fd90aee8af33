"""Every supported combination of answers bakes a complete project with nothing left unrendered."""

import itertools
import json
import re

import pytest
import yaml

from tests.conftest import DEFAULT_PACKAGE, DEFAULT_SLUG, Project, project_files

PYTHON_VERSIONS = ["3.11", "3.12", "3.13"]
COMBINATIONS = list(itertools.product(PYTHON_VERSIONS, [True, False], [True, False]))
JINJA_LEFTOVER = re.compile(r"\{\{\s*cookiecutter\.|\{%-?\s|cookiecutter\.")


@pytest.mark.parametrize(("python_version", "use_compose", "use_helm"), COMBINATIONS)
def test_combination_bakes_without_leftovers(
    bake, python_version: str, use_compose: bool, use_helm: bool
) -> None:
    project = bake(python_version=python_version, use_compose=use_compose, use_helm=use_helm)
    leftovers = [
        str(path.relative_to(project.path))
        for path in project_files(project.path)
        if JINJA_LEFTOVER.search(path.read_text(errors="ignore"))
    ]
    assert leftovers == []


@pytest.mark.parametrize(("use_compose", "use_helm"), list(itertools.product([True, False], repeat=2)))
def test_options_remove_exactly_their_files(bake, use_compose: bool, use_helm: bool) -> None:
    project: Project = bake(use_compose=use_compose, use_helm=use_helm)
    present = {
        "compose.yaml": (project.path / "compose.yaml").exists(),
        "deploy/prometheus/prometheus.yml": (project.path / "deploy/prometheus/prometheus.yml").exists(),
        "deploy/helm": (project.path / "deploy/helm").exists(),
    }
    assert present == {
        "compose.yaml": use_compose,
        "deploy/prometheus/prometheus.yml": use_compose,
        "deploy/helm": use_helm,
    }


def test_boolean_answers_given_as_text_are_understood(bake) -> None:
    project = bake(use_compose="no", use_helm="yes")
    assert ((project.path / "compose.yaml").exists(), (project.path / "deploy/helm").exists()) == (
        False,
        True,
    )


def test_default_names_derive_from_project_name(bake) -> None:
    project = bake()
    assert (project.path.name, (project.path / "src" / DEFAULT_PACKAGE).is_dir()) == (
        DEFAULT_SLUG,
        True,
    )


def test_python_version_reaches_every_tool(bake) -> None:
    project = bake(python_version="3.13")
    pyproject = (project.path / "pyproject.toml").read_text()
    assert (
        (project.path / ".python-version").read_text().strip(),
        'target-version = "py313"' in pyproject,
        'python_version = "3.13"' in pyproject,
    ) == ("3.13", True, True)


def test_cruft_state_records_the_answers(bake) -> None:
    project = bake(project_name="Billing Core")
    state = json.loads((project.path / ".cruft.json").read_text())
    assert (state["context"]["cookiecutter"]["project_slug"], state["skip"]) == (
        "billing-core",
        [".env", "uv.lock"],
    )


def test_every_yaml_file_parses(bake) -> None:
    project = bake()
    broken = []
    for path in project_files(project.path):
        if path.suffix in {".yaml", ".yml"} and "templates" not in path.parts:
            try:
                list(yaml.safe_load_all(path.read_text()))
            except yaml.YAMLError as exc:
                broken.append(f"{path}: {exc}")
    assert broken == []


def test_lock_file_names_the_project(bake) -> None:
    project = bake(project_name="Billing Core")
    lock = (project.path / "uv.lock").read_text()
    assert 'name = "billing-core"' in lock and DEFAULT_SLUG not in lock
