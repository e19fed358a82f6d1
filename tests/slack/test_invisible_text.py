"""Invisible and right-to-left text over Slack: an answer of only invisible characters gets the
empty-answer reply and is not stored; no bidirectional control reaches Slack in the summary, the
supervisor's copy, the answers or history, whether typed now or stored before."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from storage.models import Answer, Reflection, SupervisorNote
from tests.slack.conftest import (
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    complete_quickly,
    ephemeral_text,
    skip_to_confirmation,
)
from tests.slack.summary_fixtures import NEW_SUMMARY, completed_reflection, summary_like

BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
REVERSING = "Mum said \u202eenif lla saw ti\u2067 and left it open"


def _sent(slack: SlackDriver) -> str:
    slack.deliver()
    everything = [m for user in (PRACTITIONER, SUPERVISOR) for m in slack.fake.messages_to(user)]
    return json.dumps(everything, ensure_ascii=False)


def test_an_answer_of_invisible_characters_is_asked_again(slack: SlackDriver) -> None:
    assert slack.command(PRACTITIONER, "CSC-1001").status == 200
    with slack.new_session() as session:
        where = session.exec(select(Reflection.current_question)).one()
    assert slack.message(PRACTITIONER, "\u200b\u200c\u200d\u2060\ufeff").status == 200
    assert "I didn't catch an answer there" in slack.texts_to(PRACTITIONER)[-1]
    with slack.new_session() as session:
        assert session.exec(select(Answer)).all() == []
        assert session.exec(select(Reflection.current_question)).one() == where


def test_typed_controls_are_not_kept_or_sent(slack: SlackDriver) -> None:
    assert slack.command(PRACTITIONER, "CSC-1001").status == 200
    assert slack.message(PRACTITIONER, REVERSING).status == 200
    with slack.new_session() as session:
        stored = [a.value for a in session.exec(select(Answer))]
    assert stored == ["Mum said enif lla saw ti and left it open"]
    skip_to_confirmation(slack, PRACTITIONER)
    assert slack.message(PRACTITIONER, "send").status == 200
    copy = slack.last_message(SUPERVISOR, with_action="summary_show_answers")
    answers = slack.show_answers(SUPERVISOR, message=copy, message_ts="1764149400.000200")
    assert "Mum said enif lla saw ti and left it open" in answers
    history = ephemeral_text(slack.command(SUPERVISOR, "history CSC-1001"))
    assert "Summary: CSC-1001" in history
    assert not BIDI.search(_sent(slack) + history)


def test_controls_stored_before_are_not_shown(slack: SlackDriver) -> None:
    summary = summary_like(
        NEW_SUMMARY,
        working_well="\u202eMum has kept every clinic appointment",
        themes=[
            {
                "id": "household",
                "title": "Household",
                "entries": [{"question": "Who lives there", "answer": REVERSING}],
            }
        ],
    )
    completed_reflection(slack, summary)
    copy = slack.last_message(SUPERVISOR, with_action="summary_show_answers")
    assert "Mum has kept every clinic appointment" in _sent(slack)
    answers = slack.show_answers(SUPERVISOR, message=copy, message_ts="1764149400.000300")
    assert "Mum said enif lla saw ti and left it open" in answers
    history = ephemeral_text(slack.command(SUPERVISOR, "history CSC-7001"))
    assert "Summary: CSC-7001" in history
    assert not BIDI.search(_sent(slack) + history + answers)


def test_a_note_of_invisible_characters_is_refused_as_empty(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER)
    copy = slack.last_message(SUPERVISOR, with_action="summary_add_note")
    assert slack.press(SUPERVISOR, "summary_add_note", message=copy).status == 200
    view = slack.fake.successful("views.open")[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    values = {"note": {"note_text": {"value": "\u200b\u2060\u202e"}}}
    refused = slack.submit_view(SUPERVISOR, view, values)
    assert json.loads(refused.body)["response_action"] == "errors"
    values = {"note": {"note_text": {"value": "Ask \u202eloohcs"}}}
    assert slack.submit_view(SUPERVISOR, view, values).status == 200
    with slack.new_session() as session:
        assert [n.text for n in session.exec(select(SupervisorNote))] == ["Ask loohcs"]
    assert "Ask loohcs" in slack.texts_to(PRACTITIONER)[-1]
