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


@pytest.mark.parametrize("text", ["soon", "31/02", "2026-02-30", "in 0 days", "", "asap"])
def test_not_understood(text: str) -> None:
    assert isinstance(parse_due_date(text, THURSDAY), NotUnderstood)
