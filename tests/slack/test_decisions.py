"""The supervisor's copy of a summary beyond Acknowledge and Add a note: "I'll call you before
the visit" and "Record a decision", each for the reflection's supervisor only, recorded once,
audited, and told to the practitioner."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from bot import casework
from bot.render import export_markdown
from storage.models import AuditEntry, Reflection, SupervisorDecision
from tests.slack.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    message_text,
)
from tests.slack.summary_fixtures import NEW_SUMMARY, completed_reflection


def _reflection(slack: SlackDriver, rid: int) -> Reflection:
    with slack.new_session() as session:
        reflection = session.get(Reflection, rid)
        assert reflection is not None
        return reflection


def _audit(slack: SlackDriver) -> list[tuple[str, str, str]]:
    with slack.new_session() as session:
        return [(e.actor, e.action, e.subject) for e in session.exec(select(AuditEntry))]


def _decisions(slack: SlackDriver) -> list[SupervisorDecision]:
    with slack.new_session() as session:
        return list(session.exec(select(SupervisorDecision)))


def _copy(slack: SlackDriver) -> dict[str, Any]:
    return slack.last_message(SUPERVISOR, with_action="summary_record_decision")


def _open_decision_modal(slack: SlackDriver) -> dict[str, Any]:
    assert slack.press(SUPERVISOR, "summary_record_decision", message=_copy(slack)).status == 200
    opened = slack.fake.successful("views.open")
    assert len(opened) == 1
    view = opened[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "summary_decision_modal"
    return dict(view)


def _decide(slack: SlackDriver, view: dict[str, Any], text: str, user: str = SUPERVISOR) -> Any:
    return slack.submit_view(user, view, {"decision": {"decision_text": {"value": text}}})


def test_the_supervisors_copy_has_the_four_buttons_beside_show_the_answers(
    slack: SlackDriver,
) -> None:
    completed_reflection(slack, NEW_SUMMARY)
    copy = _copy(slack)
    [buttons] = [b for b in copy["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons["elements"]] == [
        "summary_acknowledge",
        "summary_add_note",
        "summary_call_promised",
        "summary_record_decision",
        "summary_show_answers",
    ]
    labels = [e["text"]["text"] for e in buttons["elements"]]
    assert "I'll call you before the visit" in labels and "Record a decision" in labels


def test_a_promised_call_is_recorded_once_and_the_practitioner_told_once(
    slack: SlackDriver,
) -> None:
    rid = completed_reflection(slack, NEW_SUMMARY)
    told_before = len(slack.texts_to(PRACTITIONER))
    copy = _copy(slack)

    assert slack.press(SUPERVISOR, "summary_call_promised", message=copy).status == 200
    promised = _reflection(slack, rid).call_promised_at
    assert promised is not None
    told = slack.texts_to(PRACTITIONER)
    assert len(told) == told_before + 1
    assert f"<@{SUPERVISOR}> will call you before your visit on CSC-7001" in told[-1]
    assert "knows you'll call them" in slack.texts_to(SUPERVISOR)[-1]

    slack.clock.advance(5)
    assert slack.press(SUPERVISOR, "summary_call_promised", message=copy).status == 200
    assert _reflection(slack, rid).call_promised_at == promised  # set once
    assert len(slack.texts_to(PRACTITIONER)) == told_before + 1  # told once
    assert "You told" in slack.texts_to(SUPERVISOR)[-1]
    assert _audit(slack).count((SUPERVISOR, "call_promised", f"reflection:{rid}")) == 1


def test_only_the_supervisor_can_promise_a_call(slack: SlackDriver) -> None:
    rid = completed_reflection(slack, NEW_SUMMARY)
    told_before = len(slack.texts_to(PRACTITIONER))
    for someone in (OTHER_PRACTITIONER, PRACTITIONER):
        assert slack.press(someone, "summary_call_promised", message=_copy(slack)).status == 200
        assert "Only the supervisor" in slack.texts_to(someone)[-1]
        assert "promise a call" in slack.texts_to(someone)[-1]
    assert _reflection(slack, rid).call_promised_at is None
    assert len(slack.texts_to(PRACTITIONER)) == told_before + 1  # only the refusal
    audit = _audit(slack)
    assert (OTHER_PRACTITIONER, "call_promised_refused", f"reflection:{rid}") in audit
    assert not [a for a in audit if a[1] == "call_promised"]


def test_a_forged_button_value_is_refused_and_audited_without_its_text(
    slack: SlackDriver,
) -> None:
    completed_reflection(slack, NEW_SUMMARY)
    for action_id in ("summary_call_promised", "summary_record_decision"):
        action = {"type": "button", "action_id": action_id, "value": "Jane Smith"}
        assert slack.click(SUPERVISOR, action, "summary:1").status == 200
    assert slack.fake.successful("views.open") == []
    refused = [a for a in _audit(slack) if a[1].endswith("_refused")]
    assert refused == [
        (SUPERVISOR, "call_promised_refused", "reflection:invalid"),
        (SUPERVISOR, "decision_refused", "reflection:invalid"),
    ]
    assert "Jane Smith" not in json.dumps(_audit(slack))


def test_a_decision_is_screened_stored_audited_and_shown_to_the_practitioner(
    slack: SlackDriver,
) -> None:
    rid = completed_reflection(slack, NEW_SUMMARY)
    view = _open_decision_modal(slack)
    assert view["private_metadata"] == str(rid)

    empty = _decide(slack, view, "   ")
    assert json.loads(empty.body)["response_action"] == "errors"
    assert "Please write the decision" in json.loads(empty.body)["errors"]["decision"]
    too_long = _decide(slack, view, "x" * 3000)
    assert "3,000 characters" in json.loads(too_long.body)["errors"]["decision"]
    assert _decisions(slack) == []

    decision = (
        "Step up to a strategy discussion <!channel> & tell the GP.\n"
        "Check NHS 943 476 5919 at SW1A 1AA first."
    )
    assert _decide(slack, view, decision).status == 200
    assert _decide(slack, view, decision).status == 200  # the same submission again

    [kept] = _decisions(slack)
    assert (kept.reflection_id, kept.author_id) == (rid, SUPERVISOR)
    assert "Step up to a strategy discussion" in kept.text
    for identifier in ("943 476 5919", "SW1A 1AA"):
        assert identifier not in kept.text
    told = slack.texts_to(PRACTITIONER)[-1]
    assert f"<@{SUPERVISOR}> has recorded a decision on your reflection on CSC-7001" in told
    assert "&lt;!channel&gt; &amp; tell the GP" in told
    assert "<!channel>" not in json.dumps(slack.fake.messages_to(PRACTITIONER))
    assert "943 476 5919" not in json.dumps(slack.fake.messages_to(PRACTITIONER))
    to_supervisor = slack.texts_to(SUPERVISOR)[-1]
    assert "is recorded" in to_supervisor and "I left out" in to_supervisor
    assert "NHS number" in to_supervisor
    audit = _audit(slack)
    assert audit.count((SUPERVISOR, "decision", f"reflection:{rid}")) == 1
    assert "strategy" not in json.dumps(audit)


def test_someone_else_cannot_open_or_submit_the_decision_modal(slack: SlackDriver) -> None:
    rid = completed_reflection(slack, NEW_SUMMARY)
    slack.press(OTHER_PRACTITIONER, "summary_record_decision", message=_copy(slack))
    assert slack.fake.successful("views.open") == []
    assert "record a decision on it" in slack.texts_to(OTHER_PRACTITIONER)[-1]

    # A submission forged with the reflection's id is refused in the modal, and audited.
    view = {"type": "modal", "callback_id": "summary_decision_modal", "private_metadata": str(rid)}
    for someone in (OTHER_PRACTITIONER, PRACTITIONER):
        response = _decide(slack, view, "Close the case", user=someone)
        assert json.loads(response.body)["response_action"] == "errors"
        assert "Only the supervisor" in json.loads(response.body)["errors"]["decision"]
    assert _decisions(slack) == []
    audit = _audit(slack)
    assert (OTHER_PRACTITIONER, "decision_refused", f"reflection:{rid}") in audit
    assert (PRACTITIONER, "decision_refused", f"reflection:{rid}") in audit


def test_a_decision_goes_with_the_case_when_it_is_erased_and_into_its_export(
    slack: SlackDriver,
) -> None:
    completed_reflection(slack, NEW_SUMMARY)
    view = _open_decision_modal(slack)
    assert _decide(slack, view, "Joint visit with the health visitor next week").status == 200

    export = casework.export_case(
        slack.new_session, actor="cli:admin", case_ref="CSC-7001", now=slack.clock()
    )
    markdown = export_markdown(export, timezone="Europe/London")
    assert "### Supervisor decisions" in markdown
    assert "Joint visit with the health visitor next week" in markdown

    report = casework.erase_case(
        slack.new_session, actor="cli:admin", case_ref="CSC-7001", now=slack.clock()
    )
    assert report.counts["decisions"] == 1
    assert _decisions(slack) == []


def test_erasing_the_supervisor_removes_the_decisions_they_wrote(slack: SlackDriver) -> None:
    completed_reflection(slack, NEW_SUMMARY)
    view = _open_decision_modal(slack)
    assert _decide(slack, view, "Keep the plan as it is").status == 200
    report = casework.erase_person(
        slack.new_session, actor="cli:admin", person_id=SUPERVISOR, now=slack.clock()
    )
    assert report.counts["decisions_written"] == 1
    assert _decisions(slack) == []


def test_the_supervisors_copy_shows_the_context_and_what_is_asked_of_them(
    slack: SlackDriver,
) -> None:
    completed_reflection(slack, NEW_SUMMARY)
    text = message_text(_copy(slack))
    assert "open 240 days · reflection 3 · scale 3 → 4 → 4 · last plan: 2 of 3 actions done" in (
        text
    )
    assert "*They ask of you:* a call before the visit." in text
    # The practitioner's own copy keeps to the visit, its first screen and flags (the worry
    # they wrote is with the answers, behind the button): no context line, no ask.
    mine = message_text(slack.last_message(PRACTITIONER, with_action="summary_show_answers"))
    assert "Summary: CSC-7001" in mine and "Weigh the baby and see where she sleeps" in mine
    assert "a couple of glasses the night before" in mine
    assert "Mum drinks in the evenings" not in mine
    assert "reflection 3 ·" not in mine and "ask of you" not in mine
