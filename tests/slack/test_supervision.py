"""The supervisor's copy: Acknowledge, Add note (a modal), the practitioner told of each."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import AuditEntry, Reflection, SupervisorNote
from tests.slack.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    complete_quickly,
)


def _reflection(slack: SlackDriver) -> Reflection:
    with slack.new_session() as session:
        return session.exec(select(Reflection)).one()


def _audit(slack: SlackDriver) -> list[tuple[str, str]]:
    with slack.new_session() as session:
        return [(e.actor, e.action) for e in session.exec(select(AuditEntry))]


def test_acknowledge_tells_the_practitioner_once(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER)
    copy = slack.last_message(SUPERVISOR, with_action="summary_acknowledge")
    practitioner_before = len(slack.texts_to(PRACTITIONER))

    assert slack.press(SUPERVISOR, "summary_acknowledge", message=copy).status == 200
    assert _reflection(slack).acknowledged_at is not None
    told = slack.texts_to(PRACTITIONER)
    assert len(told) == practitioner_before + 1
    assert f"<@{SUPERVISOR}> has read and acknowledged your reflection on CSC-1001" in told[-1]
    assert "Acknowledged." in slack.texts_to(SUPERVISOR)[-1]

    slack.press(SUPERVISOR, "summary_acknowledge", message=copy)  # pressed again
    assert len(slack.texts_to(PRACTITIONER)) == practitioner_before + 1
    assert "You acknowledged" in slack.texts_to(SUPERVISOR)[-1]
    assert _audit(slack).count((SUPERVISOR, "acknowledge")) == 1


def test_only_the_supervisor_can_acknowledge(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER)
    copy = slack.last_message(SUPERVISOR, with_action="summary_acknowledge")
    slack.press(OTHER_PRACTITIONER, "summary_acknowledge", message=copy)
    assert _reflection(slack).acknowledged_at is None
    assert "Only the supervisor" in slack.texts_to(OTHER_PRACTITIONER)[-1]


def test_a_note_from_the_modal_reaches_the_practitioner_escaped(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER)
    copy = slack.last_message(SUPERVISOR, with_action="summary_add_note")
    assert slack.press(SUPERVISOR, "summary_add_note", message=copy).status == 200
    opened = slack.fake.successful("views.open")
    assert len(opened) == 1
    view = opened[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "summary_note_modal"

    empty = slack.submit_view(SUPERVISOR, view, {"note": {"note_text": {"value": "  "}}})
    assert empty.status == 200
    assert json.loads(empty.body)["response_action"] == "errors"

    note = "Good plan. Ask school about <!channel> & lunch\nand the evenings"
    response = slack.submit_view(SUPERVISOR, view, {"note": {"note_text": {"value": note}}})
    assert response.status == 200
    again = slack.submit_view(SUPERVISOR, view, {"note": {"note_text": {"value": note}}})
    assert again.status == 200  # the same submission twice keeps one note

    with slack.new_session() as session:
        notes = list(session.exec(select(SupervisorNote)))
    assert [n.text for n in notes] == [note]
    told = slack.texts_to(PRACTITIONER)[-1]
    assert f"<@{SUPERVISOR}> added a note" in told
    assert "&lt;!channel&gt; &amp; lunch" in told
    assert "<!channel>" not in json.dumps(slack.fake.messages_to(PRACTITIONER))
    assert "has gone to" in slack.texts_to(SUPERVISOR)[-1]
    assert (SUPERVISOR, "note") in _audit(slack)


def test_someone_else_cannot_open_the_note_modal(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER)
    copy = slack.last_message(SUPERVISOR, with_action="summary_add_note")
    slack.press(OTHER_PRACTITIONER, "summary_add_note", message=copy)
    assert slack.fake.successful("views.open") == []
    assert "Only the supervisor" in slack.texts_to(OTHER_PRACTITIONER)[-1]


def test_only_the_practitioner_confirms_lead_contact(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER)
    reminder = slack.last_message(PRACTITIONER, with_action="lead_contact_confirmed")
    slack.press(SUPERVISOR, "lead_contact_confirmed", message=reminder)
    assert _reflection(slack).lead_contact_confirmed_at is None
    assert "Only the practitioner" in slack.texts_to(SUPERVISOR)[-1]


def test_a_note_from_the_modal_is_screened_for_identifiers_like_an_answer(
    slack: SlackDriver,
) -> None:
    complete_quickly(slack, PRACTITIONER)
    copy = slack.last_message(SUPERVISOR, with_action="summary_add_note")
    slack.press(SUPERVISOR, "summary_add_note", message=copy)
    view = slack.fake.successful("views.open")[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    note = "Check the GP record for NHS 943 476 5919; family now at SW1A 1AA. Joint visit?"
    response = slack.submit_view(SUPERVISOR, view, {"note": {"note_text": {"value": note}}})
    assert response.status == 200

    with slack.new_session() as session:
        [kept] = [n.text for n in session.exec(select(SupervisorNote))]
    forwarded = json.dumps(slack.fake.messages_to(PRACTITIONER))
    for identifier in ("943 476 5919", "9434765919", "SW1A 1AA"):
        assert identifier not in kept and identifier not in forwarded
    assert "Joint visit?" in kept and "Joint visit?" in slack.texts_to(PRACTITIONER)[-1]
    told = slack.texts_to(SUPERVISOR)[-1]
    assert "I left out" in told and "NHS number" in told
