"""Reading what was typed on the `reflect` command line."""

from __future__ import annotations

import argparse
from datetime import date

from bot.identity import is_person_id, teams_person_id


def person_id(typed: str) -> str | None:
    """A person's ID (Slack or Teams) as typed after --person, or None when it could not be one
    (so nothing typed in error, such as a name, is written to the audit trail)."""
    if is_person_id(teams_person_id(typed)):
        return teams_person_id(typed)
    person = typed.strip().upper()
    return person if is_person_id(person) else None


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)
