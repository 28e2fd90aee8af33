"""The chassis's settings: production refusals, JSON policies from the environment, sentinels."""

import pytest
from chassis.settings import Environment, InvalidSettings, Settings, load_settings
from pydantic import ValidationError

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


def test_rate_limit_policies_parse_from_json_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RATE_LIMIT_ROUTES",
        '{"POST /v1/notes": {"name": "notes-create", "quota": 5, "window_seconds": 10}}',
    )
    policy = Settings(_env_file=None).rate_limit_routes["POST /v1/notes"]
    assert (policy.quota, policy.window_seconds, policy.fail_open) == (5, 10, True)


def test_rate_limit_policy_names_must_be_unique() -> None:
    clash = {"POST /v1/notes": {"name": "default", "quota": 1, "window_seconds": 1}}
    with pytest.raises(ValidationError, match="must be unique"):
        Settings.model_validate({"rate_limit_routes": clash})


def test_rate_limit_route_keys_name_method_and_path() -> None:
    malformed = {"/v1/notes": {"name": "notes", "quota": 1, "window_seconds": 1}}
    with pytest.raises(ValidationError, match="must look like"):
        Settings.model_validate({"rate_limit_routes": malformed})


def test_redis_sentinels_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "sentinel-0:26379, [::1]:26380")
    sentinels = Settings(_env_file=None).redis_sentinels
    assert sentinels == [("sentinel-0", 26379), ("::1", 26380)]


def test_a_malformed_sentinel_is_refused_by_position_not_by_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "sentinel-0:26379,secret-host:port")
    with pytest.raises(InvalidSettings) as refused:
        load_settings(Settings)
    message = str(refused.value)
    assert (message.startswith("REDIS_SENTINELS: "), "entry 2" in message) == (True, True)
    assert "secret-host" not in message


def test_sentinels_refuse_a_tls_redis_url() -> None:
    with pytest.raises(ValidationError, match="needs a redis:// REDIS_URL"):
        Settings.model_validate({"redis_url": "rediss://redis:6380/0", "redis_sentinels": "s:1"})
