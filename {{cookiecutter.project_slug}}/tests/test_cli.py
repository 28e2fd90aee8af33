import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.config import get_settings


def test_dev_without_redis_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    get_settings.cache_clear()
    try:
        code = main(["dev"])
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err
    assert (code, "no Redis answers at 127.0.0.1:1" in error, "secret" in error) == (2, True, False)


def test_dev_without_a_primary_names_the_sentinels_master(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "queue-primary")
    get_settings.cache_clear()
    try:
        code = main(["dev"])
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err
    assert (code, "the primary REDIS_SENTINELS name 'queue-primary'" in error) == (2, True)
