import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.config import Environment, Settings

SAFE_PRODUCTION: dict[str, object] = {
    "environment": Environment.PRODUCTION,
    "database_url": "postgresql+asyncpg://app:s3cret@db:5432/app",
    "redis_url": "redis://redis:6379/0",
}


def test_safe_production_settings_load() -> None:
    assert Settings.model_validate(SAFE_PRODUCTION).json_logs is True


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"database_url": "sqlite+aiosqlite:///./app.db"}, "not SQLite"),
        ({"debug": True}, "DEBUG must be off"),
        ({"database_url": "postgresql+asyncpg://app:change-me@db/app"}, "placeholder password"),
    ],
)
def test_production_refuses_unsafe_values(override: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Settings.model_validate({**SAFE_PRODUCTION, **override})


def test_development_defaults_to_sqlite_and_console_logs() -> None:
    settings = Settings(_env_file=None)
    assert (settings.database_url.startswith("sqlite"), settings.json_logs) == (True, False)


ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_env_example_lists_every_setting() -> None:
    # A setting may be listed commented out when an empty value would mean something.
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} - listed == set()


def test_env_example_loads_as_is() -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)
    assert settings.digest_schedule == "0 8 * * *"


def test_digest_schedule_must_parse() -> None:
    with pytest.raises(ValidationError, match="crontab"):
        Settings(digest_schedule="every morning")
