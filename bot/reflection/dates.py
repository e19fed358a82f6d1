"""Due dates as practitioners type them. Ambiguous or past dates are queried, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


@dataclass(frozen=True)
class DueDate:
    on: date


@dataclass(frozen=True)
class Ambiguous:
    candidates: tuple[date, ...]


@dataclass(frozen=True)
class InThePast:
    on: date


@dataclass(frozen=True)
class NotUnderstood:
    text: str


DateReading = DueDate | Ambiguous | InThePast | NotUnderstood


def _weekday(name: str) -> int | None:
    name = name.lower()
    for index, day in enumerate(WEEKDAYS):
        if len(name) >= 3 and day.startswith(name):
            return index
    return None


def _month(name: str) -> int | None:
    name = name.lower().rstrip(".")
    for index, month in enumerate(MONTHS, start=1):
        if len(name) >= 3 and month.startswith(name):
            return index
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_weekday(today: date, weekday: int) -> date:
    """The next such day after today (a week on, if today is that day)."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _without_year(today: date, month: int, day: int) -> date | None:
    this_year = _safe_date(today.year, month, day)
    if this_year is None:
        return _safe_date(today.year + 1, month, day)
    return this_year if this_year >= today else _safe_date(today.year + 1, month, day)


# What people type for days and weeks in a chat.
SHORTHAND = {
    "wk": "week",
    "wks": "weeks",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tomoz": "tomorrow",
    "2moro": "tomorrow",
    "weds": "wednesday",
    "thur": "thursday",
    "thurs": "thursday",
    "tues": "tuesday",
    "eow": "end of the week",
    "eom": "end of the month",
}


def _day_of_month(today: date, day: int) -> date | None:
    """The next such day of a month, today included: "15th" in late November is 15 December."""
    for ahead in range(0, 3):
        year, month = (
            today.year + (today.month + ahead - 1) // 12,
            (today.month + ahead - 1) % 12 + 1,
        )
        on = _safe_date(year, month, day)
        if on is not None and on >= today:
            return on
    return None


def _weekday_and_day(today: date, weekday: int, day: int, text: str) -> DateReading:
    """ "Tues 15th": the next 15th that is a Tuesday, within a few months; if the two disagree,
    ask which."""
    for ahead in range(0, 4):
        year, month = (
            today.year + (today.month + ahead - 1) // 12,
            (today.month + ahead - 1) % 12 + 1,
        )
        on = _safe_date(year, month, day)
        if on is not None and on >= today and on.weekday() == weekday:
            return DueDate(on)
    by_day = _day_of_month(today, day)
    by_weekday = _next_weekday(today, weekday)
    if by_day is None:
        return DueDate(by_weekday)
    return Ambiguous(tuple(sorted({by_day, by_weekday})))


# A date somewhere in a line of text ("ring CSC by fri - me"), longest forms first.
_IN_TEXT = re.compile(
    r"\b(?:(?:by|on|before|for|due) )?(?:"
    r"\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
    r"|(?:(?:this|next|coming) )?(?:mon|tue|tues|wed|weds|thu|thur|thurs|fri)[a-z]*"
    r"(?: (?:the )?\d{1,2}(?:st|nd|rd|th)?)?(?: next (?:wk|week))?"
    r"|\d{1,2}(?:st|nd|rd|th)?(?: of)? "
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
    r"|\d{1,2}(?:st|nd|rd|th)"
    r"|today|tonight|tomorrow|tmrw|tomoz|asap|this (?:afternoon|evening)"
    r"|next (?:wk|week)(?: (?:mon|tue|tues|wed|weds|thu|thur|thurs|fri)[a-z]*)?"
    r"|end of (?:the |this |next )?(?:week|wk|month)"
    r"|in (?:\d+|a|an|one|two|three|four|five|six) (?:days?|weeks?|wks?|fortnight)"
    r")\b",
    re.IGNORECASE,
)


def find_due_date(text: str, today: date) -> tuple[DateReading, str] | None:
    """The first date written anywhere in ``text`` that reads as one, with the words it was."""
    for match in _IN_TEXT.finditer(text):
        reading = parse_due_date(match.group(0), today)
        if not isinstance(reading, NotUnderstood):
            return reading, match.group(0)
    return None


def _checked(on: date | None, today: date, text: str) -> DateReading:
    if on is None:
        return NotUnderstood(text)
    return InThePast(on) if on < today else DueDate(on)


def parse_due_date(text: str, today: date) -> DateReading:
    """Read a due date: ``2026-12-04``, ``4/12/2026``, ``4 December``, ``Friday``, ``next week``,
    ``in 3 days``, ``tomorrow``. A date that could mean two days is returned as Ambiguous."""
    cleaned = re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!")
    cleaned = re.sub(r"^(by|on|due|before|for) ", "", cleaned)
    ordinal = re.search(r"\d(st|nd|rd|th)\b", cleaned) is not None
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", cleaned)
    cleaned = re.sub(r"\bthe (\d)", r"\1", cleaned)
    for short, word in SHORTHAND.items():
        cleaned = re.sub(rf"\b{short}\b", word, cleaned)

    if cleaned in {"today", "now", "tonight", "asap", "this afternoon", "this evening"}:
        return DueDate(today)
    if cleaned == "tomorrow":
        return DueDate(today + timedelta(days=1))

    if ordinal and (m := re.fullmatch(r"(\d{1,2})", cleaned)):
        return _checked(_day_of_month(today, int(m[1])), today, text)

    if m := re.fullmatch(r"([a-z]+) (\d{1,2})", cleaned):
        weekday = _weekday(m[1])
        if weekday is not None:
            return _weekday_and_day(today, weekday, int(m[2]), text)

    if m := re.fullmatch(r"(?:([a-z]+) next week|next week ([a-z]+))", cleaned):
        weekday = _weekday(m[1] or m[2])
        if weekday is not None:
            monday_next = today + timedelta(days=7 - today.weekday())
            return DueDate(monday_next + timedelta(days=weekday))

    if cleaned in {"end of the month", "end of month", "end of this month"}:
        following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        return DueDate(following - timedelta(days=1))

    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", cleaned):
        return _checked(_safe_date(int(m[1]), int(m[2]), int(m[3])), today, text)

    if m := re.fullmatch(r"(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2}|\d{4}))?", cleaned):
        first, second = int(m[1]), int(m[2])
        year = int(m[3]) + (2000 if m[3] and len(m[3]) == 2 else 0) if m[3] else None

        def build(day: int, month: int) -> date | None:
            if year is None:
                return _without_year(today, month, day)
            return _safe_date(year, month, day)

        uk, us = build(first, second), build(second, first)
        # Day-first is the UK convention, but 04/05 could be read either way by a tired person
        # or a US-configured phone: when both readings are real dates and differ, ask.
        if uk and us and uk != us:
            return Ambiguous((uk, us))
        return _checked(uk or us, today, text)

    if m := re.fullmatch(r"(?:\w+ )?(\d{1,2}) ([a-z]+)\.?(?: (\d{4}))?", cleaned) or re.fullmatch(
        r"(?:\w+ )?([a-z]+)\.? (\d{1,2})(?:,? (\d{4}))?", cleaned
    ):
        day_text, month_text = (m[1], m[2]) if m[1].isdigit() else (m[2], m[1])
        month = _month(month_text)
        if month is not None:
            if m[3]:
                return _checked(_safe_date(int(m[3]), month, int(day_text)), today, text)
            return _checked(_without_year(today, month, int(day_text)), today, text)

    if m := re.fullmatch(r"(?:(this|next|coming|on) )?([a-z]+)", cleaned):
        weekday = _weekday(m[2])
        if weekday is not None:
            soonest = _next_weekday(today, weekday)
            if weekday == today.weekday() and m[1] != "next":
                return Ambiguous((today, soonest))
            if m[1] == "next" and (soonest - today).days < 7:
                # "next Friday" on a Monday: this week's Friday, or the week after's?
                return Ambiguous((soonest, soonest + timedelta(days=7)))
            return DueDate(soonest)

    if cleaned in {"next week", "end of next week"}:
        monday_next = today + timedelta(days=7 - today.weekday())
        return DueDate(monday_next + timedelta(days=4))
    if cleaned in {"end of the week", "end of this week", "this week"}:
        friday = today + timedelta(days=(4 - today.weekday()) % 7)
        return DueDate(friday)

    if m := re.fullmatch(
        r"(?:in )?(\d+|[a-z]+) (day|days|week|weeks|fortnight)(?: time)?", cleaned
    ):
        count = int(m[1]) if m[1].isdigit() else NUMBER_WORDS.get(m[1])
        if count is not None and count > 0:
            unit_days = {"day": 1, "days": 1, "week": 7, "weeks": 7, "fortnight": 14}[m[2]]
            return DueDate(today + timedelta(days=count * unit_days))

    return NotUnderstood(text)
