"""prompts/messages/summary.j2, the summary every front end shows: the first screen, flags by
when they matter, unknowns, what is working well, the plan with earlier actions, then the
answers; the supervisor's copy adds the case's context and what is asked of them. Summaries
stored before any of that existed still render."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.render import Dialect, Renderer
from bot.slack.dialect import SLACK
from bot.terminal.dialect import TERMINAL
from tests.slack.summary_fixtures import NEW_SUMMARY, OLD_SUMMARY, summary_like

NEW_KEYS = (
    "role",
    "role_title",
    "repeat",
    "first_screen",
    "flags_by_when",
    "unknowns",
    "working_well",
    "earlier_actions",
    "context",
    "supervisor_ask",
    "decision_needed",
    "lead",
)
AUDIENCES = ("practitioner", "supervisor", "lead", "record")


def render(summary: dict[str, Any], mode: Dialect = TERMINAL, **data: Any) -> str:
    return Renderer(mode).render("messages/summary.j2", summary=summary, **data)


def positions(text: str, *parts: str) -> list[int]:
    found = [text.find(p) for p in parts]
    assert -1 not in found, [p for p, at in zip(parts, found, strict=True) if at == -1]
    return found


def test_the_first_screen_comes_first_then_flags_by_when_then_the_plan_then_the_answers() -> None:
    text = render(summary_like(NEW_SUMMARY), audience="practitioner")
    order = positions(
        text,
        "Summary: CSC-7001",
        "The visit is for: Weigh the baby and see where she sleeps",
        "Purpose and worry: Mum drinks in the evenings",
        "Scale: 4 out of 10 (last time 3)",
        "See alone: Mum",
        "Look for: Where the baby sleeps; Bottles",
        "On the visit\n  • Alcohol and a baby: you wrote",
        "For supervision\n  • The scale has not risen",
        "Not answered, worth asking about\n  • Ask which agencies",
        "What's working well: Mum has kept every clinic appointment",
        "Last time's plan\n  • Book the baby's check (by Sunday 1 November 2026): done\n"
        "  • Meet the new partner: not done",
        "The plan\n  1. Ask the GP about mum's drinking; me; by Friday 4 December 2026.",
        "      Until then: The nursery nurse visits on Monday",
        "The visit\n  • What is this visit for?: Weigh the baby & <!here>",
        "Household\n  • Who lives there: Mum, baby, a new partner",
    )
    assert order == sorted(order)
    assert "Today" not in text  # no flag for today: no heading
    assert "*" not in text.replace("* ", "")  # the terminal shows no mrkdwn markers


def test_flags_for_today_lead_the_flags() -> None:
    today = {"rule": "injury_baby", "text": "A bruise on a baby: act today", "matters": "today"}
    flags = [*NEW_SUMMARY["flags"], today]
    by_when = {
        "today": [today],
        "visit": [NEW_SUMMARY["flags"][0]],
        "supervision": [NEW_SUMMARY["flags"][1]],
    }
    ungrouped = summary_like(NEW_SUMMARY, flags=flags)
    del ungrouped["flags_by_when"]  # grouped here from each flag's "matters"
    for summary in (ungrouped, summary_like(NEW_SUMMARY, flags=flags, flags_by_when=by_when)):
        text = render(summary, SLACK, audience="supervisor")
        order = positions(
            text,
            "*Today*\n  • A bruise on a baby: act today",
            "*On the visit*",
            "*For supervision*",
        )
        assert order == sorted(order)
        assert text.count("A bruise on a baby") == 1


def test_the_supervisors_copy_adds_the_context_and_what_is_asked_of_them() -> None:
    summary = summary_like(
        NEW_SUMMARY, supervisor_ask="decision", decision_needed="Whether to hold a strategy"
    )
    text = render(summary, SLACK, audience="supervisor")
    assert text.startswith("*<@U0TESTPRAC> reflected on CSC-7001* (Thursday 26 November 2026;")
    assert (
        "_Case open 240 days · reflection 3 · scale 3 → 4 → 4 · last plan: 2 of 3 actions done_"
        in text
    )
    assert "*They ask of you:* a decision: Whether to hold a strategy" in text
    assert "_Safeguarding lead: talked the case through recently._" in text
    mine = render(summary, SLACK, audience="practitioner")
    assert "reflection 3" not in mine and "ask of" not in mine and "Safeguarding lead" not in mine


@pytest.mark.parametrize(
    ("ask", "said"),
    [
        ("nothing", "nothing this time."),
        ("call_before_visit", "a call before the visit."),
        ("joint_visit", "a joint visit."),
        ("decision", "a decision."),
    ],
)
def test_each_ask_of_the_supervisor(ask: str, said: str) -> None:
    text = render(summary_like(NEW_SUMMARY, supervisor_ask=ask), audience="supervisor")
    assert f"They ask of you: {said}\n" in text


def test_a_first_reflection_has_no_trend_and_no_earlier_plan() -> None:
    summary = summary_like(
        NEW_SUMMARY,
        repeat=False,
        earlier_actions=[],
        context={
            "days_open": 1,
            "reflections_so_far": 1,
            "scale_trend": [4],
            "earlier_actions_done": None,
        },
        first_screen={**NEW_SUMMARY["first_screen"], "scale_before": None, "scale": 0},
    )
    text = render(summary, audience="supervisor")
    assert "Case open 1 day · reflection 1\n" in text
    assert "Scale: 0 out of 10\n" in text  # a 0 is a scale, not a missing one
    assert "Last time's plan" not in text and "last time" not in text


def test_without_answers_the_summary_stops_at_the_plan() -> None:
    text = render(summary_like(NEW_SUMMARY), audience="supervisor", with_answers=False)
    assert "Mum, baby, a new partner" not in text and "Household" not in text
    assert text.rstrip().endswith("Until then: The nursery nurse visits on Monday")


def test_an_old_summary_renders_as_before_for_every_reader() -> None:
    for audience in AUDIENCES:
        for mode in (TERMINAL, SLACK):
            text = render(copy.deepcopy(OLD_SUMMARY), mode, audience=audience)
            assert "CSC-7002" in text
            assert "The child was not seen on their own." in text
            assert "History (skipped): Read the chronology" in text
            assert "Visit again; me; by Tuesday 1 December 2026. If not: Call school." in text
            assert "Nursery, then home to nan's" in text
            for absent in ("Case open", "ask of", "The visit is for", "Last time's plan"):
                assert absent not in text


@pytest.mark.parametrize("missing", NEW_KEYS)
def test_a_summary_missing_any_one_new_key_still_renders(missing: str) -> None:
    summary = summary_like(NEW_SUMMARY)
    del summary[missing]
    for audience in AUDIENCES:
        assert "CSC-7001" in render(summary, SLACK, audience=audience)


def test_empty_and_partial_values_render_without_gaps_or_errors() -> None:
    summary = summary_like(
        NEW_SUMMARY,
        first_screen={"purpose": None, "worry": "", "scale": None, "see_alone": []},
        context={},
        lead={"status": "is_lead", "on": None},
        unknowns=[{"theme": "plan", "question": "The plan"}],
        actions=[],
        flags=[],
        flags_by_when={"today": [], "visit": [], "supervision": []},
    )
    text = render(summary, audience="supervisor")
    for absent in ("The visit is for", "Scale", "Case open", "Safeguarding lead", "Today"):
        assert absent not in text
    assert "  • The plan\n" in text
    assert "The plan\n  No actions recorded." in text
    assert "\n\n\n" not in text


def test_an_old_summary_with_no_answers_says_so() -> None:
    text = render(summary_like(OLD_SUMMARY, themes=[]), audience="record")
    assert text.endswith("No answers were recorded.")
