import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.main import create_app


def test_dev_without_redis_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    code = main(["dev"])
    error = capsys.readouterr().err
    assert (code, "no Redis answers at 127.0.0.1:1" in error, "secret" in error) == (2, True, False)


def test_dev_without_a_primary_names_the_sentinels_master(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "queue-primary")
    code = main(["dev"])
    error = capsys.readouterr().err
    assert (code, "the primary REDIS_SENTINELS name 'queue-primary'" in error) == (2, True)


UNSAFE_PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql+asyncpg://app:hunter2-change-me@db.internal:5432/app",
    "DEBUG": "true",
}
REFUSAL = (
    "error: invalid settings: unsafe production settings: DEBUG must be off; "
    "DATABASE_URL holds the placeholder password 'change-me'"
)


def test_command_refuses_unsafe_production_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in UNSAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    code = main(["web"])
    assert (code, capsys.readouterr().err.splitlines()) == (2, [REFUSAL])


def test_app_factory_refuses_unsafe_production_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `uvicorn --factory {{ cookiecutter.package_name }}.main:create_app` calls.
    for name, value in UNSAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        create_app()
    assert (stopped.value.code, capsys.readouterr().err.splitlines()) == (2, [REFUSAL])
