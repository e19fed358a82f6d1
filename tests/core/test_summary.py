"""What the summary says: answers by theme, gaps, flags, the plan, the lead reminder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.admin.organisation import load_organisation
from bot.reflection.messages import Reply
from bot.reflection.service import ReflectionService
from bot.render import Renderer

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

# One answer per question the path reaches, in order (follow-ups included).
ANSWERS = [
    "Gets herself to school, tea is crisps, mum asleep in the mornings",  # child_day
    "4",  # child_seen: not seen -> child_voice
    "Ask school to arrange time with her alone",  # child_voice
    "ok",  # development: thin (1 word)
    "skip",  # identity: skipped
    "No known conditions for the child or mum",  # medical
    "1",  # chronology: read
    "Two neglect referrals from school in 2025",  # history
    "1",  # sources: parent only -> other_sources
    "The school DSL and the GP",  # other_sources
    "1",  # risks: alcohol -> at_the_time, pregnancy
    "Not known what happens in the evenings",  # at_the_time
    "yes",  # pregnancy -> alcohol_baby
    "Will ask the midwife today",  # alcohol_baby
    "Mum agrees but nothing changes at home",  # uncertainty
    "1",  # engagement
    "School, GP and health visitor; police not told",  # network
    "1",  # agency_response
    "Read the chronology again",  # plan: what
    "me",  # owner
    "Friday",  # due
    "skip",  # contingency
    "no",  # more
    "1",  # lead_contact
    "send",
]


@pytest.fixture
def completed(new_session, clock, tmp_path: Path) -> Reply:
    org = tmp_path / "org.yaml"
    org.write_text(ORG)
    load_organisation(org, new_session)
    service = ReflectionService(new_session, now=clock)
    reply = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    for text in ANSWERS:
        reply = service.respond(practitioner_id=PRAC, text=text)
    assert reply.status == "completed"
    return reply


def test_completion_names_supervisor_and_leads(completed: Reply) -> None:
    completion = completed.completion
    assert completion is not None
    assert completion.supervisor_id == "U0TESTSUPV"
    assert completion.lead_ids == ("U0TESTLEAD",)
    assert completion.leads_see_summaries is False


def test_summary_groups_answers_by_theme(completed: Reply) -> None:
    summary = completed.completion.summary
    titles = [t["title"] for t in summary["themes"]]
    assert titles[0] == "Lived experience of the child" and len(titles) == 12
    lived = summary["themes"][0]["entries"]
    assert [e["question"] for e in lived] == [
        "The child's day",
        "Seeing and hearing the child",
        "Hearing the child",
    ]
    assert lived[1]["answer"] == "Not seen yet"


def test_gaps_are_skipped_and_thin_themes(completed: Reply) -> None:
    gaps = {g["theme"]: g["reason"] for g in completed.completion.summary["gaps"]}
    assert gaps == {
        "Identity and diversity": "skipped",
        "Development, behaviour and relationships": "thin",
    }


def test_flags_come_from_the_rules(completed: Reply) -> None:
    flags = {f["rule"] for f in completed.completion.summary["flags"]}
    assert flags == {
        "child_not_seen_alone",
        "only_parent_heard",
        "alcohol_and_baby",
        "no_contingency",
    }


def test_plan_is_recorded_with_due_date(completed: Reply) -> None:
    (action,) = completed.completion.summary["actions"]
    assert action == {
        "what": "Read the chronology again",
        "owner": "me",
        "due_on": "2026-11-27",
        "contingency": None,
    }


def test_practitioner_and_supervisor_copies_render_the_same_body(completed: Reply) -> None:
    renderer = Renderer("slack")
    summary = completed.completion.summary
    mine = renderer.render("messages/summary.j2", summary=summary, audience="practitioner")
    theirs = renderer.render("messages/summary.j2", summary=summary, audience="supervisor")
    assert mine.splitlines()[1:] == theirs.splitlines()[1:]
    assert "<@U0TESTPRAC>" in theirs.splitlines()[0]
    assert "Who else could tell you what the child's day is like?" in mine
    assert "by Friday 27 November 2026" in mine


def test_lead_reminder_names_the_lead(completed: Reply) -> None:
    reminder = next(m for m in completed.messages if m.template == "lead_reminder")
    assert "<@U0TESTLEAD>" in Renderer("slack").message(reminder)
    assert "U0TESTLEAD" in Renderer("plain").message(reminder)


def test_confirmation_says_who_will_see_it(new_session, clock, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(
        ORG.replace(
            "    safeguarding_leads: [U0TESTLEAD]",
            "    safeguarding_leads: [U0TESTLEAD]\n    leads_see_summaries: true",
        )
    )
    load_organisation(org, new_session)
    service = ReflectionService(new_session, now=clock)
    reply = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    while reply.messages[-1].template != "confirm":
        reply = service.respond(practitioner_id=PRAC, text="skip")
    text = Renderer("slack").message(reply.messages[-1])
    assert "<@U0TESTSUPV>" in text and "<@U0TESTLEAD>" in text and "Nobody else" in text


def test_user_text_is_escaped_for_slack(new_session, clock) -> None:
    service = ReflectionService(new_session, now=clock)
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    service.respond(practitioner_id=PRAC, text="<!channel> & <@U0OTHER> said hi")
    reply = service.respond(practitioner_id=PRAC, text="back")
    text = Renderer("slack").message(reply.messages[-1])
    assert "&lt;!channel&gt; &amp; &lt;@U0OTHER&gt;" in text
    assert "<!channel>" not in text and "<@U0OTHER>" not in text


def test_every_message_template_renders_without_markers_in_plain_mode() -> None:
    plain = Renderer("plain")
    source = (Path(__file__).parents[2] / "prompts" / "messages" / "welcome.j2").read_text()
    assert "*skip*" in source
    text = plain.render("messages/welcome.j2", case_ref="CSC-1", theme_total=12, question_total=15)
    assert "*" not in text and "type skip, back" in text
