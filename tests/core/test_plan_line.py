"""A plan action typed in one line, as practitioners type it: its owner and its date are read
from the line (bot/reflection/plan_line.py); what is left is the action."""

from __future__ import annotations

from datetime import date

import pytest

from bot.reflection.dates import DueDate
from bot.reflection.plan_line import ME, read_action

THURSDAY = date(2026, 11, 26)
FRIDAY = date(2026, 11, 27)
NEXT_FRIDAY = date(2026, 12, 4)


@pytest.mark.parametrize(
    ("line", "what", "owner", "due"),
    [
        # A role, then "to" and what they will do: the role owns it.
        ("GP to review meds by fri", "GP to review meds by fri", "GP", FRIDAY),
        ("mum to keep a closer eye", "mum to keep a closer eye", "mum", None),
        # A short name in brackets, or after a dash, at the end of the line.
        ("strat meeting next wk (SW)", "strat meeting next wk", "SW", NEXT_FRIDAY),
        ("ring CSC today - me", "ring CSC today", ME, THURSDAY),
        ("Refer to MASH tues 15th - Jo Bloggs", "Refer to MASH tues 15th", "Jo Bloggs", None),
        ("Talk to the DSL - deputy dsl", "Talk to the DSL", "deputy dsl", None),
        # The practitioner in the first person.
        ("I will ring the school tomorrow", "I will ring the school tomorrow", ME, FRIDAY),
    ],
)
def test_the_owner_and_date_are_read_from_the_line(
    line: str, what: str, owner: str | None, due: date | None
) -> None:
    read = read_action(line, THURSDAY)
    assert (read.what, read.owner) == (what, owner)
    if due is not None:
        assert read.due == DueDate(due)


def test_a_weekday_and_a_day_of_the_month_in_a_line_are_one_date() -> None:
    read = read_action("Refer to MASH tues 15th - Jo Bloggs", THURSDAY)
    assert (read.due, read.due_words) == (DueDate(date(2026, 12, 15)), "tues 15th")


def test_a_handover_to_someone_names_no_owner() -> None:
    # "to HV" is where the action goes, not who does it: nobody is named as its owner.
    read = read_action("Handover to HV with a note", THURSDAY)
    assert (read.what, read.owner, read.due, read.due_words) == (
        "Handover to HV with a note",
        None,
        None,
        None,
    )


def test_a_date_after_a_dash_is_a_date_not_an_owner() -> None:
    read = read_action("Ring the school - next week", THURSDAY)
    assert read.owner is None
    assert (read.due, read.due_words) == (DueDate(NEXT_FRIDAY), "next week")


@pytest.mark.parametrize("line", ["Visit - me.", "Visit (me)", "Visit - myself", "Visit - I"])
def test_the_practitioner_however_written_is_me(line: str) -> None:
    read = read_action(line, THURSDAY)
    assert (read.what, read.owner) == ("Visit", ME)


@pytest.mark.parametrize(
    "line", ["Need to ring the school", "Refer to early help", "Talk to mum about bedtimes"]
)
def test_a_line_that_starts_with_a_verb_names_no_owner(line: str) -> None:
    assert read_action(line, THURSDAY).owner is None


def test_a_line_with_no_date_has_none() -> None:
    read = read_action("Ask the school nurse to weigh her", THURSDAY)
    assert (read.due, read.due_words) == (None, None)
