"""The chassis's command line, as a service runs it (`run(SERVICE)`): `dev` needs a Redis."""

import pytest

from sample.cli import main


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
