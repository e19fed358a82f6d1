"""Due dates as practitioners type them."""

from __future__ import annotations

from datetime import date

import pytest

from bot.reflection.dates import Ambiguous, DueDate, InThePast, NotUnderstood, parse_due_date

THURSDAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04", date(2026, 12, 4)),
        ("Friday", date(2026, 11, 27)),
        ("by friday", date(2026, 11, 27)),
        ("next week", date(2026, 12, 4)),
        ("in 3 days", date(2026, 11, 29)),
        ("in two weeks", date(2026, 12, 10)),
        ("tomorrow", date(2026, 11, 27)),
        ("today", THURSDAY),
        ("4 December", date(2026, 12, 4)),
        ("4th Dec", date(2026, 12, 4)),
        ("December 4, 2026", date(2026, 12, 4)),
        ("13/12", date(2026, 12, 13)),
        ("13/01/2027", date(2027, 1, 13)),
        ("5 January", date(2027, 1, 5)),
        ("end of the week", date(2026, 11, 27)),
        ("asap", THURSDAY),
        ("tonight", THURSDAY),
    ],
)
def test_understood(text: str, expected: date) -> None:
    assert parse_due_date(text, THURSDAY) == DueDate(expected)


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("04/05", (date(2027, 5, 4), date(2027, 4, 5))),
        ("4/12/2026", (date(2026, 12, 4), date(2026, 4, 12))),
        ("next friday", (date(2026, 11, 27), date(2026, 12, 4))),
        ("thursday", (THURSDAY, date(2026, 12, 3))),
    ],
)
def test_ambiguous_dates_are_queried(text: str, candidates: tuple[date, ...]) -> None:
    assert parse_due_date(text, THURSDAY) == Ambiguous(candidates)


def test_past_dates_are_queried() -> None:
    assert parse_due_date("2026-11-01", THURSDAY) == InThePast(date(2026, 11, 1))


@pytest.mark.parametrize("text", ["soon", "31/02", "2026-02-30", "in 0 days", "", "whenever"])
def test_not_understood(text: str) -> None:
    assert isinstance(parse_due_date(text, THURSDAY), NotUnderstood)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A weekday with a day of the month: the next 15th that is a Tuesday.
        ("tues 15th", date(2026, 12, 15)),
        ("Tue the 15th", date(2026, 12, 15)),
        # A day of the month alone: the next one, today included.
        ("15th", date(2026, 12, 15)),
        ("26th", THURSDAY),
        ("the 1st", date(2026, 12, 1)),
        # A weekday next week: that day of the week starting Monday 30 November.
        ("thurs next week", date(2026, 12, 3)),
        ("mon next wk", date(2026, 11, 30)),
        ("next week fri", date(2026, 12, 4)),
        ("next wk", date(2026, 12, 4)),
        ("end of the month", date(2026, 11, 30)),
        ("end of month", date(2026, 11, 30)),
    ],
)
def test_dates_as_practitioners_type_them(text: str, expected: date) -> None:
    assert parse_due_date(text, THURSDAY) == DueDate(expected)


def test_a_weekday_and_a_day_of_the_month_that_disagree_are_queried() -> None:
    # Thursday the 3rd is 3 December; no 31st in the next months is a Saturday, so "sat 31st"
    # could be this Saturday or the 31st, and is asked.
    assert parse_due_date("thu 3rd", THURSDAY) == DueDate(date(2026, 12, 3))
    reading = parse_due_date("sat 31st", THURSDAY)
    assert reading == Ambiguous((date(2026, 11, 28), date(2026, 12, 31)))


def test_end_of_the_month_in_december_is_the_last_day_of_december() -> None:
    assert parse_due_date("end of the month", date(2026, 12, 10)) == DueDate(date(2026, 12, 31))


def test_a_day_of_the_month_already_past_is_next_months() -> None:
    assert parse_due_date("15th", date(2027, 1, 20)) == DueDate(date(2027, 2, 15))
