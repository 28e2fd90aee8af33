from datetime import UTC, datetime

import pytest

from {{ cookiecutter.package_name }}.core.crontab import Crontab
from {{ cookiecutter.package_name }}.jobs import cron, task


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_schedule_reaches_back_to_yesterday_before_its_hour() -> None:
    daily = Crontab.parse("0 8 * * *")
    assert daily.latest_at_or_before(at("2026-01-02T07:59:59")) == at("2026-01-01T08:00:00")


def test_a_scheduled_time_is_its_own_latest() -> None:
    daily = Crontab.parse("0 8 * * *")
    assert daily.latest_at_or_before(at("2026-01-02T08:00:00")) == at("2026-01-02T08:00:00")


def test_previous_is_strictly_before() -> None:
    daily = Crontab.parse("0 8 * * *")
    assert daily.previous(at("2026-01-02T08:00:00")) == at("2026-01-01T08:00:00")


def test_six_fields_schedule_seconds() -> None:
    every_ten = Crontab.parse("*/10 * * * * *")
    assert every_ten.previous(at("2026-01-01T00:00:00")) == at("2025-12-31T23:59:50")


def test_sunday_is_both_zero_and_seven() -> None:
    saturday_night = at("2026-01-03T23:00:00")
    assert Crontab.parse("30 6 * * 0").latest_at_or_before(saturday_night) == Crontab.parse(
        "30 6 * * 7"
    ).latest_at_or_before(saturday_night)


def test_weekly_schedule_lands_on_its_weekday() -> None:
    mondays = Crontab.parse("0 9 * * 1")
    assert mondays.latest_at_or_before(at("2026-01-04T12:00:00")) == at("2025-12-29T09:00:00")


def test_month_ranges_and_lists_combine() -> None:
    quarterly = Crontab.parse("0 0 1 1-10/3,12 *")
    assert quarterly.previous(at("2026-01-01T00:00:00")) == at("2025-12-01T00:00:00")


@pytest.mark.parametrize(
    "expression",
    ["0 8 * *", "61 * * * *", "0 8 1 * 1", "0 0 30 2 *", "0 8-6 * * *", "x * * * *"],
    ids=["four-fields", "minute-61", "day-and-weekday", "feb-30", "reversed-range", "not-number"],
)
def test_bad_expression_is_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="crontab"):
        Crontab.parse(expression)


def test_cron_task_needs_a_second_try() -> None:
    async def once(ctx: object, *, scheduled_at: str) -> None:
        return None

    single = task(name="single_try_cron", max_tries=1)(once)
    with pytest.raises(ValueError, match="max_tries >= 2"):
        cron(schedule=lambda settings: "* * * * *")(single)
