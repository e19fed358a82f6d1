"""The period a report covers: whole local days, from one date to another inclusive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.report import Window

# An open reflection untouched this long, when the report is run, counts as abandoned.
QUIET_DAYS = 7


class PeriodError(ValueError):
    """The dates asked for do not make a period; the message says why, in the user's terms."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive

    @classmethod
    def last_full_month(cls, today: date) -> Period:
        last = today.replace(day=1) - timedelta(days=1)
        return cls(last.replace(day=1), last)

    @classmethod
    def between(cls, first: date | None, last: date | None, *, today: date) -> Period:
        """``--from``/``--to``: with neither, the last full month; with only ``--to``, from the
        start of its month; with only ``--from``, up to today."""
        if first is None and last is None:
            return cls.last_full_month(today)
        if first is None:
            assert last is not None
            first = last.replace(day=1)
        if last is None:
            last = today
        if first > today:
            raise PeriodError(f"The period starts in the future ({first}).")
        if last < first:
            raise PeriodError(f"The period ends ({last}) before it starts ({first}).")
        return cls(first, last)

    def months(self) -> list[tuple[str, date, date]]:
        """(label YYYY-MM, first day, day after the last) for each month the period touches."""
        found = []
        day = self.first
        while day <= self.last:
            end = min(_month_end(day), self.last) + timedelta(days=1)
            found.append((f"{day:%Y-%m}", day, end))
            day = end
        return found

    def window(self, zone: ZoneInfo, *, now: datetime, agency_id: str | None = None) -> Window:
        def utc(day: date) -> datetime:
            return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)

        return Window(
            start=utc(self.first),
            end=utc(self.last + timedelta(days=1)),
            quiet_before=now - timedelta(days=QUIET_DAYS),
            months=tuple((label, utc(a), utc(b)) for label, a, b in self.months()),
            agency_id=agency_id,
        )


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)
