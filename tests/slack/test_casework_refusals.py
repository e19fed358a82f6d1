"""Casework through Slack: every button under a summary, every modal and the /reflect words
about a case refuse whoever the access rule refuses, say so in their terms, change nothing and
leave an audit row."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from storage.models import AuditEntry, Case, Reflection, SupervisorDecision, SupervisorNote
from tests.slack.conftest import (
    LEAD,
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    complete_quickly,
)

STRANGER = "U0TESTSTRN"  # in no organisation

# button: (what the refused are told, the audit action)
BUTTONS = {
    "summary_acknowledge": ("Only the supervisor", "acknowledge_refused"),
    "summary_call_promised": ("Only the supervisor", "call_promised_refused"),
    "summary_add_note": ("Only the supervisor", "note_refused"),
    "summary_record_decision": ("Only the supervisor", "decision_refused"),
    "summary_show_answers": ("can see its answers", "view_refused"),
    "lead_contact_confirmed": ("Only the practitioner", "lead_contact_refused"),
}
REFUSED = {
    "summary_acknowledge": (PRACTITIONER, OTHER_PRACTITIONER, LEAD, STRANGER),
    "summary_call_promised": (PRACTITIONER, OTHER_PRACTITIONER, LEAD, STRANGER),
    "summary_add_note": (PRACTITIONER, OTHER_PRACTITIONER, LEAD, STRANGER),
    "summary_record_decision": (PRACTITIONER, OTHER_PRACTITIONER, LEAD, STRANGER),
    "summary_show_answers": (OTHER_PRACTITIONER, LEAD, STRANGER),
    "lead_contact_confirmed": (SUPERVISOR, OTHER_PRACTITIONER, LEAD, STRANGER),
}


def _state(slack: SlackDriver) -> tuple[object, ...]:
    with slack.new_session() as session:
        reflection = session.exec(select(Reflection)).one()
        written = session.exec(select(func.count()).select_from(SupervisorNote)).one()
        written += session.exec(select(func.count()).select_from(SupervisorDecision)).one()
        return (
            reflection.acknowledged_at,
            reflection.call_promised_at,
            reflection.lead_contact_confirmed_at,
            written,
        )


def _audit(slack: SlackDriver) -> list[tuple[str, str, str]]:
    with slack.new_session() as session:
        return [(e.actor, e.action, e.subject) for e in session.exec(select(AuditEntry))]


@pytest.mark.parametrize("button", sorted(BUTTONS))
def test_each_button_refuses_whoever_the_access_rule_refuses(
    slack: SlackDriver, button: str
) -> None:
    complete_quickly(slack, PRACTITIONER)
    said, audited = BUTTONS[button]
    before = _state(slack)
    with slack.new_session() as session:
        rid = session.exec(select(Reflection.id)).one()
    # The button as it is under the summary, or as anyone could forge it with the id.
    action = {"type": "button", "action_id": button, "value": str(rid)}
    for someone in REFUSED[button]:
        assert slack.click(someone, action, f"summary:{rid}").status == 200
        assert said in slack.texts_to(someone)[-1]
        assert (someone, audited, f"reflection:{rid}") in _audit(slack)
    assert _state(slack) == before
    assert slack.fake.successful("views.open") == []


@pytest.mark.parametrize("modal", ["summary_note_modal", "summary_decision_modal"])
def test_a_forged_note_or_decision_is_refused_in_the_modal(slack: SlackDriver, modal: str) -> None:
    complete_quickly(slack, PRACTITIONER)
    with slack.new_session() as session:
        rid = session.exec(select(Reflection.id)).one()
    kind = "note" if modal == "summary_note_modal" else "decision"
    view = {"type": "modal", "callback_id": modal, "private_metadata": str(rid)}
    before = _state(slack)
    for someone in (PRACTITIONER, OTHER_PRACTITIONER, LEAD, STRANGER):
        response = slack.submit_view(
            someone, view, {kind: {f"{kind}_text": {"value": "Close the case"}}}
        )
        body = json.loads(response.body)
        assert body["response_action"] == "errors"
        assert "Only the supervisor" in body["errors"][kind]
        assert (someone, f"{kind}_refused", f"reflection:{rid}") in _audit(slack)
    assert _state(slack) == before


@pytest.mark.parametrize("someone", [OTHER_PRACTITIONER, LEAD, STRANGER])
def test_reflect_close_and_history_refuse_whoever_the_access_rule_refuses(
    slack: SlackDriver, someone: str
) -> None:
    complete_quickly(slack, PRACTITIONER)
    closing = slack.command(someone, "close CSC-1001")
    assert "Only the practitioner on CSC-1001 or their supervisor" in closing.body
    with slack.new_session() as session:
        assert session.exec(select(Case)).one().closed_on is None

    history = slack.command(someone, "history CSC-1001")
    assert "can't show you CSC-1001" in history.body
    assert "Summary" not in history.body
    assert (someone, "view_refused", "case:CSC-1001") in _audit(slack)
