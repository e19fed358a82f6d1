"""In Slack a summary's answers wait behind "Show the answers": shown to whoever the access rule
lets see the reflection, once per summary message however often it is pressed, every view
audited; summaries stored before the first screen existed still render."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.db import transaction
from storage.models import Agency, AuditEntry
from tests.slack.conftest import (
    LEAD,
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    message_text,
)
from tests.slack.summary_fixtures import (
    NEW_SUMMARY,
    OLD_SUMMARY,
    completed_reflection,
    summary_like,
)


def _audit(slack: SlackDriver) -> list[tuple[str, str, str]]:
    with slack.new_session() as session:
        return [(e.actor, e.action, e.subject) for e in session.exec(select(AuditEntry))]


def _share_with_leads(slack: SlackDriver) -> None:
    with transaction(slack.new_session) as session:
        agency = session.get(Agency, "csc")
        assert agency is not None
        agency.options = {"leads_see_summaries": True}
        session.add(agency)


def test_the_answers_wait_behind_a_button_for_the_practitioner(slack: SlackDriver) -> None:
    rid = completed_reflection(slack, NEW_SUMMARY)
    summary = slack.last_message(PRACTITIONER, with_action="summary_show_answers")
    text = message_text(summary)
    assert "Weigh the baby and see where she sleeps" in text  # the first screen
    assert "Mum, baby, a new partner" not in text  # an answer: behind the button

    shown = slack.show_answers(PRACTITIONER, message=summary, message_ts="1764149400.000100")
    assert shown.startswith("*The answers: CSC-7001* (Thursday 26 November 2026)\n")
    assert "*Household*" in shown and "Mum, baby, a new partner" in shown
    assert "Weigh the baby &amp; &lt;!here&gt;" in shown  # escaped, never a mention
    assert "What else might explain it?: (skipped)" in shown
    assert "<!here>" not in json.dumps(slack.fake.messages_to(PRACTITIONER))
    assert (PRACTITIONER, "view", f"reflection:{rid}") in _audit(slack)


def test_a_double_click_shows_the_answers_once(slack: SlackDriver) -> None:
    completed_reflection(slack, NEW_SUMMARY)
    copy = slack.last_message(SUPERVISOR, with_action="summary_show_answers")
    first = slack.show_answers(SUPERVISOR, message=copy, message_ts="1764149400.000200")
    assert first.startswith(
        f"*The answers: CSC-7001* (Thursday 26 November 2026, <@{PRACTITIONER}>)"
    )
    assert "Mum, baby, a new partner" in first
    again = slack.show_answers(SUPERVISOR, message=copy, message_ts="1764149400.000200")
    assert again == ""  # the same summary message: nothing posted twice
    answers_posts = [m for m in slack.texts_to(SUPERVISOR) if m.startswith("*The answers:")]
    assert len(answers_posts) == 1


def test_someone_the_reflection_is_not_shared_with_is_refused(slack: SlackDriver) -> None:
    rid = completed_reflection(slack, NEW_SUMMARY)
    copy = slack.last_message(SUPERVISOR, with_action="summary_show_answers")
    for someone in (OTHER_PRACTITIONER, LEAD):  # the lead: the agency does not share
        shown = slack.show_answers(someone, message=copy)
        assert "Mum, baby, a new partner" not in shown
        assert "can see its answers" in shown
        assert (someone, "view_refused", f"reflection:{rid}") in _audit(slack)
    forged = {"type": "button", "action_id": "summary_show_answers", "value": "1 OR 1=1"}
    assert slack.click(OTHER_PRACTITIONER, forged, "answers:1").status == 200
    assert (OTHER_PRACTITIONER, "answers_refused", "reflection:invalid") in _audit(slack)
    assert "Mum, baby" not in json.dumps(slack.fake.messages_to(OTHER_PRACTITIONER))
    assert "Mum, baby" not in json.dumps(slack.fake.messages_to(LEAD))


def test_a_lead_the_agency_shares_with_gets_the_copy_and_can_see_the_answers(
    slack: SlackDriver,
) -> None:
    _share_with_leads(slack)
    completed_reflection(slack, NEW_SUMMARY, leads_see=True)
    copy = slack.last_message(LEAD, with_action="summary_show_answers")
    text = message_text(copy)
    assert "*They ask of their supervisor:* a call before the visit." in text
    assert "summary_acknowledge" not in json.dumps(copy)  # the supervisor's buttons only
    assert "Mum, baby, a new partner" in slack.show_answers(LEAD, message=copy)


def test_a_summary_stored_before_the_first_screen_still_renders_with_its_buttons(
    slack: SlackDriver,
) -> None:
    completed_reflection(slack, OLD_SUMMARY)
    copy = slack.last_message(SUPERVISOR, with_action="summary_record_decision")
    text = message_text(copy)
    assert f"<@{PRACTITIONER}> reflected on CSC-7002" in text
    assert "*On the visit*\n  • The child was not seen on their own." in text
    assert "History (skipped): Read the chronology" in text
    assert "1. Visit again; me; by Tuesday 1 December 2026. If not: Call school." in text
    assert "Nursery, then home" not in text
    assert "Nursery, then home to nan's" in slack.show_answers(SUPERVISOR, message=copy)


def test_a_summary_without_answers_has_no_answers_button(slack: SlackDriver) -> None:
    completed_reflection(slack, summary_like(NEW_SUMMARY, themes=[]))
    copy = slack.last_message(SUPERVISOR, with_action="summary_acknowledge")
    assert "summary_show_answers" not in json.dumps(copy)
    assert "summary_show_answers" not in json.dumps(slack.fake.messages_to(PRACTITIONER))
