"""Working hours: weekends, bank holidays in England and Wales, and the clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.working_hours import WorkingHours
from tests.clock.helpers import LONDON, local

HOURS = WorkingHours(LONDON)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_inside_working_hours_goes_now() -> None:
    assert HOURS.next_slot(local("2026-12-02T10:15")) == local("2026-12-02T10:15")


def test_evening_waits_for_next_morning_and_friday_evening_for_monday() -> None:
    assert HOURS.next_slot(local("2026-12-02T17:00")) == local("2026-12-03T09:00")
    assert HOURS.next_slot(local("2026-12-02T06:30")) == local("2026-12-02T09:00")
    assert HOURS.next_slot(local("2026-12-04T18:00")) == local("2026-12-07T09:00")
    assert HOURS.next_slot(local("2026-12-05T12:00")) == local("2026-12-07T09:00")


def test_christmas_and_new_year_bank_holidays_are_skipped() -> None:
    # 2026: Christmas Day is a Friday, Boxing Day (Saturday) is substituted on Monday 28th.
    assert not HOURS.is_working_day(date(2026, 12, 25))
    assert not HOURS.is_working_day(date(2026, 12, 28))
    assert not HOURS.is_working_day(date(2027, 1, 1))
    assert HOURS.next_slot(local("2026-12-24T17:30")) == local("2026-12-29T09:00")
    assert HOURS.next_slot(local("2026-12-31T17:30")) == local("2027-01-04T09:00")


def test_spring_clock_change_lands_at_nine_local() -> None:
    # Clocks go forward on Sunday 29 March 2026: 09:00 on Monday is 08:00 UTC, not 09:00.
    assert HOURS.next_slot(utc("2026-03-28T12:00")) == utc("2026-03-30T08:00")


def test_autumn_clock_change_lands_at_nine_local() -> None:
    # Clocks go back on Sunday 25 October 2026: 09:00 on Monday is 09:00 UTC again.
    assert HOURS.next_slot(utc("2026-10-24T12:00")) == utc("2026-10-26T09:00")


def test_working_days_added_keep_the_local_time_across_the_change() -> None:
    # Finished Friday 27 March 15:00 GMT; two working days on is Tuesday 15:00 BST.
    assert HOURS.add_working_days(utc("2026-03-27T15:00"), 2) == utc("2026-03-31T14:00")
    # Finished on a Saturday: counted from Monday 09:00.
    assert HOURS.add_working_days(local("2026-12-05T11:00"), 2) == local("2026-12-09T09:00")


def test_first_slot_of_week_moves_past_a_bank_holiday_monday() -> None:
    assert HOURS.first_slot_of_week(local("2026-12-09T12:00")) == local("2026-12-07T09:00")
    # Easter Monday 2027 is 29 March: the week starts on Tuesday.
    assert HOURS.first_slot_of_week(local("2027-03-31T12:00")) == local("2027-03-30T09:00")
