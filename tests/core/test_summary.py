"""What build_summary records of a real reflection (the first screen, answers by theme, gaps,
unknowns, flags by when they matter, the plan, the lead and the ask of the supervisor), and how the
service hands it on; how summary.j2 lays it out is tests/core/test_summary_template.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.admin.organisation import load_organisation
from bot.reflection.messages import Reply
from bot.reflection.questions import default_question_set
from bot.render import Renderer
from bot.requests import Requests
from bot.slack.dialect import SLACK
from bot.terminal.dialect import TERMINAL
from tests.answering import Walk, answer_by_id

PRAC = "U0TESTPRAC"
ORG = """
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0TESTLEAD]
people:
  - slack_id: U0TESTSUPV
    agency: csc
    role: supervisor
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
"""

# Answers by question id; what is not here is skipped. The whole path is checked in
# test_the_path_asks_follow_ups_and_confirmations_right_after_what_raised_them.
ANSWERS: dict[str, str | list[str]] = {
    "today": "3",  # nothing needs action today
    "worry": "A planned visit; that she is left to look after herself while mum sleeps",
    "working_well": "She loves school and her teacher",
    "scale": "3",
    # Four words or more: the child's day covers development, which is not asked.
    "child_day": "Gets herself to school, tea is crisps, mum asleep in the mornings",
    "child_seen": "5",  # not seen yet
    "household": "Mum and her boyfriend, who I have never met",  # mentions a man not met
    "confirm_unmet_man": "1",  # yes
    "identity": "skip",  # the whole theme skipped
    "medical": "no",
    "chronology": "1",  # read
    "history": "Two referrals",  # thin
    "sources": "1",  # the parent's account only
    "risks": "1, 3",  # alcohol and domestic abuse -> what happens at the time, a pregnancy or baby
    "at_the_time": "Not known what happens in the evenings",  # mentions something not known
    "confirm_unknown": "2",  # it can wait: no flag
    "pregnancy": "yes",  # -> keeping the baby safe
    "baby_safety": "Will ask the midwife today",
    "outside_home": "1",  # none of these
    "engagement": "2",  # agreeing, but little changes -> what real change would look like
    "real_change": "Breakfast every day and her uniform washed",
    "explanations": "Mum may be depressed",
    "network": "skip",  # core: reaches the supervisor as an unknown
    "plan:what": ["Read the chronology again", "done"],  # no date: the date is asked
    "plan:due": "Friday",
    "plan_contingency": "skip",  # asked once, after the plan
    "lead_contact": "not yet",
    "supervisor_ask": "4",  # a decision
    "decision_needed": "Whether to step up to child protection, by Monday",
}


@pytest.fixture
def walk(new_session, clock, tmp_path: Path) -> Walk:
    org = tmp_path / "org.yaml"
    org.write_text(ORG)
    load_organisation(org, new_session)
    service = Requests(new_session, now=clock, records=False)
    walked = answer_by_id(service, PRAC, "CSC-1001", ANSWERS)
    assert walked.last.status == "completed"
    return walked


@pytest.fixture
def completed(walk: Walk) -> Reply:
    return walk.last


@pytest.fixture
def summary(completed: Reply) -> dict[str, Any]:
    assert completed.completion is not None
    return completed.completion.summary


def test_the_path_asks_follow_ups_and_confirmations_right_after_what_raised_them(
    walk: Walk,
) -> None:
    assert walk.asked == [
        "today",
        "worry",
        "working_well",
        "scale",
        "child_day",  # written at length: covers development, which is not asked
        "child_seen",
        "household",
        "confirm_unmet_man",  # whether they have met them all: "never met" already says
        "identity",
        "medical",
        "chronology",
        "history",
        "sources",
        "risks",
        "at_the_time",
        "confirm_unknown",
        "pregnancy",
        "baby_safety",
        "outside_home",
        "engagement",
        "real_change",
        "explanations",
        "confirm_care",  # "mum may be depressed": does a parent need care and support?
        "network",  # skipped: agency_response is asked only when another agency is involved
        "plan:what",
        "plan:due",  # no date in the line
        "plan:what",
        "plan_contingency",  # one contingency for the plan, after "done"
        "lead_contact",
        "supervisor_ask",
        "decision_needed",
    ]


def test_completion_names_supervisor_and_leads(completed: Reply) -> None:
    completion = completed.completion
    assert completion is not None
    assert completion.supervisor_id == "U0TESTSUPV"
    assert completion.lead_ids == ("U0TESTLEAD",)
    assert completion.leads_see_summaries is False


def test_summary_groups_answered_questions_by_theme(summary: dict[str, Any]) -> None:
    titles = [t["title"] for t in summary["themes"]]
    assert titles[:3] == [
        "Today",
        "Purpose and worry",
        "The child's day, development and behaviour",
    ]
    assert len(titles) == 14
    entries = {
        t["id"]: [(e["question"], e["answer"]) for e in t["entries"]] for t in summary["themes"]
    }
    assert entries["today"] == [("Anything for today", "No")]
    assert entries["purpose"] == [
        (
            "Purpose and worry",
            "A planned visit; that she is left to look after herself while mum sleeps",
        ),
        ("What is working well", "She loves school and her teacher"),
        ("How safe, 0 to 10", "3"),
    ]
    assert entries["lived_experience"] == [
        ("The child's day", "Gets herself to school, tea is crisps, mum asleep in the mornings"),
        ("Seeing and hearing the child", "Not seen"),
    ]
    # The skipped network is an unknown, not an empty answer.
    assert [q for q, _ in entries["network"]] == ["Something not known, confirmed"]
    assert [q for q, _ in entries["household"]] == [  # the confirmation, under its theme
        "Who lives there or visits",
        "A man not met, confirmed",
    ]
    assert entries["identity"] == []


def test_the_first_screen_is_what_to_carry_to_the_door(summary: dict[str, Any]) -> None:
    first = summary["first_screen"]
    # The worry, no longer a separate purpose, comes first.
    assert (
        first["worry"] == "A planned visit; that she is left to look after herself while mum sleeps"
    )
    assert first["purpose"] is None and first["today"] is None
    assert (first["scale"], first["scale_before"]) == (3, None)
    assert first["see_alone"] == ["the adult who may be being harmed, somewhere safe to talk"]
    # What to look for, in the words of each flag for the visit, not their titles.
    assert first["look_for"] == [
        "the baby awake and undressed, and how they are held",
        "whether the adult can talk freely, and who answers for them",
        "who answers the door, and who else is in the home",
    ]
    assert summary["working_well"] == "She loves school and her teacher"
    assert (summary["role"], summary["repeat"]) == ("social_worker", False)


def test_gaps_are_skipped_and_thin_themes_and_unknowns_are_skipped_core_questions(
    summary: dict[str, Any],
) -> None:
    gaps = {g["theme"]: g["reason"] for g in summary["gaps"]}
    assert gaps == {"Identity, diversity and needs": "skipped", "History": "thin"}
    network = default_question_set().questions["network"]
    assert summary["unknowns"] == [
        {
            "theme": "The network, thresholds and escalation",
            "question": network.label,
            "prompt": network.unknown,
        }
    ]
    assert summary["skipped_themes"] == ["identity"]


def test_flags_come_from_the_rules_grouped_by_when_they_matter(summary: dict[str, Any]) -> None:
    by_when = {when: [f["rule"] for f in flags] for when, flags in summary["flags_by_when"].items()}
    assert by_when == {
        "today": [],
        "visit": [
            "baby_not_seen",  # a pregnancy or a baby under one: the baby, seen awake
            "domestic_abuse",
            "only_parent_heard",
            "unmet_man",  # raised once: not also as "someone you haven't met"
            "substances_and_baby",
        ],
        "supervision": ["no_contingency", "lead_not_consulted"],
    }
    assert [f["rule"] for f in summary["flags"]] == [r for rules in by_when.values() for r in rules]
    unmet = next(f for f in summary["flags"] if f["rule"] == "unmet_man")
    # The flag quotes what was written; a confirmation answered "it can wait" raises nothing.
    assert unmet["quote"] == "Mum and her boyfriend, who I have never met"
    assert f'you wrote "{unmet["quote"]}"' in unmet["text"]
    assert unmet["title"] == "A man you haven't met"


def test_plan_lead_and_the_ask_of_the_supervisor(summary: dict[str, Any]) -> None:
    (action,) = summary["actions"]
    assert action == {
        "what": "Read the chronology again",
        "owner": "me",
        "due_on": "2026-11-27",
        "contingency": None,
        "meanwhile": None,
    }
    assert summary["earlier_actions"] == []
    assert summary["lead"] == {"status": "not_yet", "on": None}
    assert summary["supervisor_ask"] == "decision"
    assert summary["decision_needed"] == "Whether to step up to child protection, by Monday"
    assert summary["context"] == {
        "days_open": 0,
        "opened_on": "2026-11-26",
        "reflections_so_far": 1,
        "scale_trend": [3],
        "earlier_actions_done": None,
        "earlier_on": None,
    }


def test_the_supervisors_copy_is_the_practitioners_with_the_context_added(
    summary: dict[str, Any],
) -> None:
    renderer = Renderer(SLACK)
    mine = renderer.render("messages/summary.j2", summary=summary, audience="practitioner")
    theirs = renderer.render("messages/summary.j2", summary=summary, audience="supervisor")
    assert "<@U0TESTPRAC>" in theirs.splitlines()[0]
    # Everything the practitioner sees after the heading, the supervisor sees, in order ...
    rest = iter(theirs.splitlines()[1:])
    assert all(line in rest for line in mine.splitlines()[1:])
    # ... and the case's context and what is asked of them besides.
    assert "*They ask of you:* a decision: Whether to step up" in theirs
    assert "_Safeguarding lead: not talked to yet._" in theirs
    assert "ask of" not in mine
    assert "Who else could tell you what the child's day is like?" in mine
    assert "by Friday 27 November 2026" in mine


def test_lead_reminder_names_the_lead(completed: Reply) -> None:
    reminder = next(m for m in completed.messages if m.template == "lead_reminder")
    assert "<@U0TESTLEAD>" in Renderer(SLACK).message(reminder)
    assert "U0TESTLEAD" in Renderer(TERMINAL).message(reminder)


def test_confirmation_says_who_will_see_it(new_session, clock, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(
        ORG.replace(
            "    safeguarding_leads: [U0TESTLEAD]",
            "    safeguarding_leads: [U0TESTLEAD]\n    leads_see_summaries: true",
        )
    )
    load_organisation(org, new_session)
    service = Requests(new_session, now=clock, records=False)
    reply = answer_by_id(service, PRAC, "CSC-1001", {}, send=False).last
    assert reply.messages[-1].template == "confirm"
    text = Renderer(SLACK).message(reply.messages[-1])
    assert "<@U0TESTSUPV>" in text and "<@U0TESTLEAD>" in text and "nobody else" in text


def test_user_text_is_escaped_for_slack(new_session, clock) -> None:
    service = Requests(new_session, now=clock, records=False)
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    service.respond(practitioner_id=PRAC, text="<!channel> & <@U0OTHER> said hi")
    reply = service.respond(practitioner_id=PRAC, text="back")
    text = Renderer(SLACK).message(reply.messages[-1])
    assert "&lt;!channel&gt; &amp; &lt;@U0OTHER&gt;" in text
    assert "<!channel>" not in text and "<@U0OTHER>" not in text


def test_every_message_template_renders_without_markers_in_plain_mode() -> None:
    plain = Renderer(TERMINAL)
    source = (Path(__file__).parents[2] / "prompts" / "messages" / "welcome.j2").read_text()
    assert '{{ strong("skip") }}' in source
    for repeat in (False, True):
        text = plain.render(
            "messages/welcome.j2",
            case_ref="CSC-1",
            repeat=repeat,
            last_on=None,
            role_title="Social worker",
            theme_total=14,
            question_total=22,
            minutes=9,
        )
        assert "*" not in text and "Type skip, back or pause" in text
        # The lead is the completion's business now, and only for those who haven't talked.
        assert "safeguarding lead" not in text.lower()
