"""Which typed messages are commands in the personal chat, and which are answers."""

from __future__ import annotations

import pytest

from bot.teams.commands import Command, command, typed_text


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("reflect CSC-1234", Command("start", "CSC-1234")),
        ("Reflect csc-1234", Command("start", "csc-1234")),
        ("reflect", Command("help")),
        ("help", Command("help")),
        ("reflect help", Command("help")),
        ("LIST", Command("list")),
        ("history CSC-1234", Command("history", "CSC-1234")),
        ("close CSC-1234", Command("close", "CSC-1234")),
        ("reflect close", Command("close")),
        ("reflect history ABC", Command("history", "ABC")),
        ("reflect report", Command("report")),
    ],
)
def test_commands(typed: str, meant: Command) -> None:
    assert command(typed) == meant


@pytest.mark.parametrize(
    "typed",
    [
        "skip",
        "back",
        "pause",
        "no",
        "close family friend",  # an answer, not closing a case called "family"
        "history of neglect",
        "reflect on it later",
        "list of agencies involved",
        "history",
        "close",
        "report",
    ],
)
def test_answers(typed: str) -> None:
    assert command(typed) is None


def test_teams_markup_around_what_was_typed_is_removed() -> None:
    assert typed_text("<at>Reflect</at> reflect CSC-1") == "reflect CSC-1"
    assert typed_text("<p>Mum &amp; dad</p>") == "Mum & dad"
    assert typed_text("under 5s: age <5") == "under 5s: age <5"
