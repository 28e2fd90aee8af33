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
