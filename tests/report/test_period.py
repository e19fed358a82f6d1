"""The period a report covers, from --from and --to."""

from __future__ import annotations

from datetime import date

import pytest

from bot.report.period import Period, PeriodError

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (None, None, Period(date(2026, 2, 1), date(2026, 2, 28))),
        (None, date(2025, 12, 20), Period(date(2025, 12, 1), date(2025, 12, 20))),
        (date(2026, 1, 15), None, Period(date(2026, 1, 15), TODAY)),
        (date(2025, 11, 1), date(2026, 1, 31), Period(date(2025, 11, 1), date(2026, 1, 31))),
    ],
)
def test_periods(first: date | None, last: date | None, expected: Period) -> None:
    assert Period.between(first, last, today=TODAY) == expected


def test_january_looks_back_to_december() -> None:
    assert Period.last_full_month(date(2027, 1, 4)) == Period(date(2026, 12, 1), date(2026, 12, 31))


def test_months_are_clipped_to_the_period() -> None:
    months = Period(date(2025, 11, 15), date(2026, 1, 10)).months()
    assert [(label, a.isoformat(), b.isoformat()) for label, a, b in months] == [
        ("2025-11", "2025-11-15", "2025-12-01"),
        ("2025-12", "2025-12-01", "2026-01-01"),
        ("2026-01", "2026-01-01", "2026-01-11"),
    ]


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        (date(2026, 4, 1), None, "starts in the future"),
        (date(2026, 2, 1), date(2026, 1, 1), "ends (2026-01-01) before it starts"),
    ],
)
def test_impossible_periods_are_refused(first: date, last: date | None, says: str) -> None:
    with pytest.raises(PeriodError) as refused:
        Period.between(first, last, today=TODAY)
    assert says in str(refused.value)
