"""Every supported combination bakes a complete project with nothing left unrendered, nothing
left of a turned-off option, and nothing of the default answers in a project that changed them."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

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
}
# Answers the template once asked and no longer does (tracing is part of the chassis now): a bake
# must not mention them, nor a file that existed only for one of them.
REMOVED_ANSWERS = re.compile(r"use_tracing|without-tracing")
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
            "chassis/src/chassis/core/tracing.py",
        ]
    }
    compose, helm = answers["use_compose"], answers["use_helm"]
    assert present == {
        "compose.yaml": compose,
        "deploy/prometheus/prometheus.yml": compose,
        "deploy/helm": helm,
        "tests/test_helm_values.py": helm,
        "chassis/src/chassis/core/tracing.py": True,
    }


@pytest.mark.parametrize("answers", [COMBINATIONS[0], COMBINATIONS[-1]], ids=combination_id)
def test_removed_answers_are_mentioned_nowhere(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    mentions = [
        f"{name}: {match.group(0)!r}"
        for name, text in texts(project).items()
        for match in [REMOVED_ANSWERS.search(name + "\n" + text)]
        if match
    ]
    assert mentions == []


def test_removed_answer_given_anyway_changes_nothing(bake: Bake) -> None:
    # cookiecutter takes unknown extra context silently; an old `use_tracing=no` must still bake
    # the one chassis, tracing included, rather than a half-removed one.
    project = bake(use_tracing=False)
    assert (
        (project.path / "chassis/src/chassis/core/tracing.py").is_file(),
        "opentelemetry-sdk" in (project.path / "chassis/pyproject.toml").read_text(),
    ) == (True, True)


def chassis_tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in project_files(root)}


def test_chassis_is_the_same_in_every_bake(bake: Bake) -> None:
    # Why the template's CI runs the chassis's full suite on one bake only: no answer reaches it.
    default = bake()
    other = bake(project_name="Billing Hub", python_version="3.13", use_compose=False, use_helm=False)
    template = chassis_tree(TEMPLATE / "{{cookiecutter.project_slug}}" / "chassis")
    assert (
        chassis_tree(default.path / "chassis") == template,
        chassis_tree(other.path / "chassis") == template,
        len(template) > 50,
    ) == (True, True, True)


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
    # The chassis is copied unrendered, the same bytes in every project
    # (test_chassis_is_the_same_in_every_bake), so no answer can reach it; its docstrings may name
    # an example service.
    leaks = [
        f"{name}: {match.group(0)!r}"
        for name, text in texts(project).items()
        if not name.startswith("chassis/")
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
