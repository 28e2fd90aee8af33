"""The generated GitHub Actions workflow: pinned actions, no kept credentials, read-only token.

These are the findings of zizmor (unpinned-uses, artipacked) stated as tests; the workflow itself
runs only on GitHub.
"""

import re
import shlex
from typing import Any

import pytest
import yaml

from tests.conftest import Project

# owner/name@<40 hex digits> # vMAJOR.MINOR.PATCH
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
# The servers the generated project's fault tests start on their own (tests/private_servers.py).
FAULT_TEST_PACKAGES = {"postgresql", "redis-server", "redis-sentinel", "pgbouncer"}


@pytest.fixture(scope="module")
def workflow_text(project: Project) -> str:
    return (project.path / ".github" / "workflows" / "ci.yml").read_text()


@pytest.fixture(scope="module")
def steps(workflow_text: str) -> list[dict[str, Any]]:
    workflow = yaml.safe_load(workflow_text)
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_every_action_is_pinned_to_a_commit_with_its_tag(workflow_text: str) -> None:
    uses = [line.split("uses:", 1)[1].strip() for line in workflow_text.splitlines() if "uses:" in line]
    assert (len(uses) > 0, [use for use in uses if not PINNED.match(use)]) == (True, [])


def test_checkout_leaves_no_credentials_behind(steps: list[dict[str, Any]]) -> None:
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert [step.get("with", {}).get("persist-credentials") for step in checkouts] == [False]


def test_the_token_can_only_read_the_repository(workflow_text: str) -> None:
    assert yaml.safe_load(workflow_text)["permissions"] == {"contents": "read"}


def test_ci_installs_the_servers_the_fault_tests_start(steps: list[dict[str, Any]]) -> None:
    installed: set[str] = set()
    for step in steps:
        for command in step.get("run", "").split("&&"):
            words = shlex.split(command)
            if words[:3] == ["sudo", "apt-get", "install"]:
                installed |= {word for word in words[3:] if not word.startswith("-")}
    assert FAULT_TEST_PACKAGES - installed == set()
