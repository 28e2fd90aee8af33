"""The hooks: bad answers end generation with one line and nothing left behind; the post-gen hook
removes what an option turned off and records the template for cruft.

The hooks are plain modules, so most of this calls their functions directly; a few tests run the
cookiecutter command to show what a user sees.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import TEMPLATE


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hook_{name}", TEMPLATE / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load("pre_gen_project")
post_gen = load("post_gen_project")

GOOD = {
    "project_name": "Billing Hub",
    "project_slug": "billing-hub",
    "package_name": "billing_hub",
    "description": "Invoices.",
    "author_name": "Billing team",
    "author_email": "billing@example.com",
    "python_version": "3.12",
}

# (answers that differ from GOOD, the start of the one line that must name the answer and the fix)
BAD_ANSWERS = [
    ({"project_name": "", "project_slug": ""}, "project_name is blank: give the project a name"),
    ({"project_name": "   ", "project_slug": ""}, "project_name is blank"),
    ({"project_name": "🚀", "project_slug": ""}, "project_name '🚀' has no letter or digit"),
    (
        {"project_name": "9 Lives", "project_slug": "9-lives"},
        "project_name '9 Lives' gives the slug '9-lives'",
    ),
    ({"project_slug": "Billing Hub"}, "project_slug 'Billing Hub' must be lowercase"),
    ({"project_slug": "billing--hub"}, "project_slug 'billing--hub' must be lowercase"),
    ({"package_name": "billing-hub"}, "package_name 'billing-hub' is not a valid Python identifier"),
    ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
    ({"package_name": "json"}, "package_name 'json' would shadow the standard library module 'json'"),
    ({"package_name": "test"}, "package_name 'test' would shadow the standard library module 'test'"),
    ({"package_name": "tests"}, "package_name 'tests' would shadow the project's own tests package"),
    ({"package_name": "redis"}, "package_name 'redis' would shadow a dependency or tool"),
    ({"package_name": "Billing"}, "package_name 'Billing' must be lowercase"),
    ({"package_name": "a" * 31}, f"package_name {'a' * 31!r} is longer than 30 characters"),
    ({"python_version": "3.10"}, "python_version '3.10' is not supported: choose 3.11, 3.12 or 3.13"),
    ({"python_version": ""}, "python_version '' is not supported"),
    ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an email address"),
    ({"description": 'say "hi"'}, "description 'say \"hi\"' contains a double quote"),
    (
        {"project_name": "Billing\\Hub", "project_slug": "billing-hub"},
        "project_name 'Billing\\\\Hub' contains",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD_ANSWERS)
def test_bad_answer_names_itself_and_the_fix(changes: dict[str, str], message: str) -> None:
    found = pre_gen.problem({**GOOD, **changes})
    assert found is not None and found.startswith(message) and "\n" not in found, found


def test_good_answers_have_no_problem() -> None:
    assert pre_gen.problem(GOOD) is None


def test_package_derived_from_the_name_says_so() -> None:
    found = pre_gen.problem(
        {**GOOD, "project_name": "Tests", "project_slug": "tests", "package_name": "tests"}
    )
    assert found is not None and "(derived from project_slug)" in found


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Crème Brûlée", "creme-brulee"), ("Straße Ökonomie", "strasse-okonomie"), ("日本語 API", "ri-ben-yu-api"),
     ("Billing_Hub", "billing-hub")],
)  # fmt: skip
def test_unicode_names_transliterate_to_a_valid_slug(name: str, slug: str) -> None:
    assert (pre_gen.derived_slug(name), pre_gen.problem({**GOOD, "project_name": name, "project_slug": slug,
                                                           "package_name": slug.replace("-", "_")})) == (slug, None)  # fmt: skip


def test_hook_main_prints_one_line_and_fails() -> None:
    assert pre_gen.main(json.dumps({**GOOD, "package_name": "json"})) == 1


def bake_cli(output: Path, *pairs: str, template: Path = TEMPLATE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(template), "-o", str(output), *pairs],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pair", "message"),
    [("project_name=", "error: project_name is blank"),
     ("project_name=🚀🚀", "error: project_name '🚀🚀' has no letter or digit"),
     ("package_name=tests", "error: package_name 'tests' would shadow the project's own tests package"),
     ("python_version=3.10", "error: python_version '3.10' is not supported"),
     ("project_slug=Billing Hub", "error: project_slug 'Billing Hub' must be lowercase")],
)  # fmt: skip
def test_cookiecutter_prints_exactly_one_line_and_leaves_nothing(
    tmp_path: Path, pair: str, message: str
) -> None:
    completed = bake_cli(tmp_path / "out", pair)
    lines = (completed.stdout + completed.stderr).splitlines()
    assert (completed.returncode, len(lines), lines[0].startswith(message), (tmp_path / "out").exists()) == (
        1, 1, True, False,
    ), lines  # fmt: skip


def test_unicode_name_bakes(tmp_path: Path) -> None:
    completed = bake_cli(tmp_path, "project_name=Crème Brûlée")
    assert (completed.returncode, [p.name for p in tmp_path.iterdir()]) == (0, ["creme-brulee"]), (
        completed.stderr
    )


def test_option_off_removes_its_manifest(tmp_path: Path) -> None:
    for relative in ["compose.yaml", "deploy/prometheus/prometheus.yml", "deploy/prometheus/alerts.yml",
                     "deploy/helm/values.yaml", "tests/test_helm_values.py"]:  # fmt: skip
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    post_gen.remove_disabled(tmp_path, {"use_compose": "no", "use_helm": False})
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    # Folders left empty go too.
    assert left == ["deploy", "deploy/prometheus", "deploy/prometheus/alerts.yml"]


def test_template_that_is_not_a_git_checkout_gets_no_cruft_state(tmp_path: Path) -> None:
    (tmp_path / ".cruft.json").write_text("{}")
    note = post_gen.record_template(tmp_path, {"_template": "../tpl"}, tmp_path / "not-a-checkout")
    assert (note is not None and "cruft link" in note, (tmp_path / ".cruft.json").exists()) == (True, False)


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [("gh:acme/template", "https://github.com/acme/template.git"),
     ("https://example.com/t.git", "https://example.com/t.git"),
     ("../template", "/abs/template")],
)  # fmt: skip
def test_template_is_recorded_where_cruft_can_clone_it(typed: str, recorded: str) -> None:
    assert post_gen.template_source(typed, Path("/abs/template")) == recorded


def test_the_hook_removes_files_only_for_answers_the_template_asks() -> None:
    # An option dropped from cookiecutter.json (use_tracing) must leave the manifest with it, or
    # the hook would keep deleting files for an answer nobody can give any more.
    asked = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert set(post_gen.MANIFEST) == {"use_compose", "use_helm"} <= set(asked)
