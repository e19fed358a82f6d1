"""Working hours in the deployment's time zone: Monday to Friday, 09:00 to 17:00, never on a bank
holiday in England and Wales. Computed on local wall-clock time with zoneinfo, returned in UTC, so
the clock changes in March and October land prompts at the right local hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

_HOLIDAY_COUNTRY = "GB"
_HOLIDAY_SUBDIVISION = "ENG"


@dataclass(frozen=True)
class WorkingHours:
    zone: ZoneInfo
    start: time = time(9, 0)
    end: time = time(17, 0)

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        return holidays.country_holidays(_HOLIDAY_COUNTRY, subdiv=_HOLIDAY_SUBDIVISION)

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def today(self, instant: datetime) -> date:
        return self.local(instant).date()

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays

    def at(self, day: date, wall: time) -> datetime:
        """That local wall-clock time on that day, in UTC."""
        return datetime.combine(day, wall, tzinfo=self.zone).astimezone(UTC)

    def is_working_time(self, instant: datetime) -> bool:
        local = self.local(instant)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def next_working_day(self, day: date) -> date:
        """The first working day on or after ``day``."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day on or before ``day``."""
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def next_slot(self, instant: datetime) -> datetime:
        """``instant`` if it is within working hours, else the start of the next working day."""
        if self.is_working_time(instant):
            return instant.astimezone(UTC)
        local = self.local(instant)
        day = local.date()
        if not (self.is_working_day(day) and local.time() < self.start):
            day = self.next_working_day(day + timedelta(days=1))
        return self.at(day, self.start)

    def add_working_days(self, instant: datetime, days: int) -> datetime:
        """The same local time ``days`` working days later, counted from the next working moment
        (so a reflection finished on Saturday counts from Monday 09:00)."""
        begin = self.local(self.next_slot(instant))
        day = begin.date()
        for _ in range(days):
            day = self.next_working_day(day + timedelta(days=1))
        return self.at(day, begin.time().replace(tzinfo=None))

    def first_slot_of_week(self, instant: datetime) -> datetime | None:
        """The start of the first working day of ``instant``'s ISO week (local), if it has one."""
        local_day = self.today(instant)
        monday = local_day - timedelta(days=local_day.weekday())
        for offset in range(5):
            day = monday + timedelta(days=offset)
            if self.is_working_day(day):
                return self.at(day, self.start)
        return None
