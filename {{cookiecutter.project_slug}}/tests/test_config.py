"""The service's own settings: its defaults, its features' settings and its shipped .env.example."""

import re

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.digests.settings import DigestSettings
from {{ cookiecutter.package_name }}.settings import Settings
from tests.conftest import PROJECT_ROOT

ENV_EXAMPLE = PROJECT_ROOT / ".env.example"


def test_development_defaults_to_sqlite_and_console_logs() -> None:
    settings = Settings(_env_file=None)
    assert (settings.database_url, settings.json_logs) == (
        "sqlite+aiosqlite:///./{{ cookiecutter.package_name }}.db",
        False,
    )


def test_env_example_lists_every_setting() -> None:
    # A setting may be listed commented out when an empty value would mean something.
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    names = {name.upper() for name in Settings.model_fields}
    names |= {f"DIGEST_{name.upper()}" for name in DigestSettings.model_fields}
    assert names - listed == set()


def test_env_example_loads_as_is() -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)
    digests = DigestSettings(_env_file=ENV_EXAMPLE)
    # One value a line (magic trailing comma): the longest package name still fits.
    assert (settings.queue_prefix, digests.schedule) == (
        "{{ cookiecutter.package_name }}:queue",
        "0 8 * * *",
    )


def test_env_example_is_a_valid_configuration() -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)
    assert settings.rate_limit_routes["POST /v1/reports"].name == "reports-create"


def test_digest_schedule_must_parse() -> None:
    with pytest.raises(ValidationError, match="needs 5 fields"):
        DigestSettings(schedule="every morning")


def test_bad_digest_schedule_stops_the_worker_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The feature's settings are checked before the worker starts: nothing runs.
    monkeypatch.setenv("DIGEST_SCHEDULE", "0 8 * * mon-fry")
    code = main(["worker", "--queue", "scheduled"])
    assert (code, capsys.readouterr().err.splitlines()) == (
        2,
        [
            "error: invalid settings: DIGEST_SCHEDULE: '0 8 * * mon-fry' is not a cron "
            "schedule: [0 8 * * mon-fry] is not acceptable"
        ],
    )
