"""/reflect help, list, history and close; every reply ephemeral."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine
from sqlmodel import select

from bot.bootstrap import Database
from bot.settings import Settings
from bot.slack.app import build_app
from storage import db
from storage.db import transaction
from storage.models import Answer, AuditEntry, Case, Reflection
from tests.slack.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    TickingClock,
    complete_quickly,
    ephemeral_text,
)
from tools.fake_slack import FakeSlack


def test_help_alone_and_by_name(slack: SlackDriver) -> None:
    for text in ("", "help", "  HELP "):
        reply = ephemeral_text(slack.command(PRACTITIONER, text))
        assert "/reflect list" in reply and "/reflect history" in reply
    assert slack.fake.messages_to(PRACTITIONER) == []


def test_a_bad_reference_is_refused_in_the_reply_and_nothing_is_stored(
    slack: SlackDriver,
) -> None:
    reply = ephemeral_text(slack.command(PRACTITIONER, "Jane Smith"))
    assert "doesn't look like a case reference" in reply
    reply = ephemeral_text(slack.command(PRACTITIONER, "SMITH"))
    assert "at least one number" in reply
    with slack.new_session() as session:
        assert list(session.exec(select(Case))) == []


def test_list_shows_days_open_and_since_the_last_reflection(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER, "CSC-2001")
    with transaction(slack.new_session) as session:
        case = session.exec(select(Case).where(Case.ref == "CSC-2001")).one()
        case.opened_on = date(2026, 11, 1)
        session.add(case)
    slack.command(PRACTITIONER, "CSC-2002")
    slack.clock.advance(3 * 86400)
    reply = ephemeral_text(slack.command(PRACTITIONER, "list"))
    assert "*CSC-2001*: open 28 days; last reflection 3 days ago.\n" in reply
    assert "*CSC-2002*: open 3 days; no reflection yet (a reflection is under way).\n" in reply
    assert "no open cases" in ephemeral_text(slack.command(OTHER_PRACTITIONER, "list"))


def test_history_for_the_practitioner_and_supervisor_only(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER, "CSC-2003")
    mine = ephemeral_text(slack.command(PRACTITIONER, "history csc-2003"))
    assert "1 reflection on CSC-2003" in mine and "Summary: CSC-2003" in mine
    theirs = ephemeral_text(slack.command(SUPERVISOR, "history CSC-2003"))
    assert "Summary: CSC-2003" in theirs

    refused = ephemeral_text(slack.command(OTHER_PRACTITIONER, "history CSC-2003"))
    assert "can't show you CSC-2003" in refused and "Summary" not in refused
    unknown = ephemeral_text(slack.command(OTHER_PRACTITIONER, "history CSC-9999"))
    assert "can't show you CSC-9999" in unknown  # the same answer: no hint the case exists
    with slack.new_session() as session:
        audit = [(e.actor, e.action) for e in session.exec(select(AuditEntry))]
    assert audit.count((PRACTITIONER, "view")) == 1
    assert audit.count((SUPERVISOR, "view")) == 1
    assert audit.count((OTHER_PRACTITIONER, "view_refused")) == 2
    assert "Please add a case reference" in ephemeral_text(slack.command(PRACTITIONER, "history"))


def test_close_by_the_practitioner_or_supervisor(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-2004")
    refused = ephemeral_text(slack.command(OTHER_PRACTITIONER, "close CSC-2004"))
    assert "Only the practitioner on CSC-2004 or their supervisor" in refused
    closed = ephemeral_text(slack.command(PRACTITIONER, "close CSC-2004"))
    assert "Closed CSC-2004" in closed and "has been stopped" in closed
    with slack.new_session() as session:
        assert session.exec(select(Case)).one().closed_on == date(2026, 11, 26)
        assert session.exec(select(Reflection)).one().status == "cancelled"
    assert "already closed" in ephemeral_text(slack.command(SUPERVISOR, "close CSC-2004"))
    assert "was closed on" in ephemeral_text(slack.command(PRACTITIONER, "CSC-2004"))
    slack.command(PRACTITIONER, "CSC-2005")
    assert "Closed CSC-2005" in ephemeral_text(slack.command(SUPERVISOR, "close CSC-2005"))
    assert "don't know a case" in ephemeral_text(slack.command(PRACTITIONER, "close CSC-9"))


def test_a_database_outage_gets_a_plain_apology(
    settings: Settings, fake_slack: FakeSlack, tmp_path: Path, ticking_clock: TickingClock
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/reflect.db")
    app = build_app(settings, Database(engine, db.session_factory(engine)), now=ticking_clock)
    driver = SlackDriver(app, fake_slack, db.session_factory(engine), ticking_clock)
    response = driver.command(PRACTITIONER, "CSC-2009")
    assert response.status == 200
    assert "nothing you've typed has been lost" in ephemeral_text(response)
    assert "Traceback" not in response.body


def test_an_answer_with_a_file_attached_is_still_an_answer(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-2010")
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "D0TESTDM",
        "channel_type": "im",
        "user": PRACTITIONER,
        "text": "No, to meet dad, who has her in the mornings",
        "ts": "1.0",
    }
    slack.event(event)
    with slack.new_session() as session:
        assert session.exec(select(Answer)).one().question_id == "today"


def test_a_history_too_long_for_one_reply_goes_to_the_dm_in_messages_slack_takes(
    slack: SlackDriver,
) -> None:
    long_answer = "Evenings unclear & mum tired. " * 600  # 18,000 characters
    summary = {
        "case_ref": "CSC-2011",
        "practitioner_id": PRACTITIONER,
        "completed_at": "2026-11-20T10:00:00+00:00",
        "themes": [
            {"title": f"Theme {n}", "entries": [{"question": "Q", "answer": long_answer}]}
            for n in range(4)
        ],
        "gaps": [],
        "flags": [],
        "actions": [],
    }
    with transaction(slack.new_session) as session:
        case = Case(
            ref="CSC-2011",
            practitioner_id=PRACTITIONER,
            opened_on=date(2026, 11, 1),
            created_at=slack.clock(),
        )
        session.add(case)
        session.flush()
        for _ in range(3):
            session.add(
                Reflection(
                    case_id=case.id or 0,
                    practitioner_id=PRACTITIONER,
                    status="completed",
                    question_set_version="1",
                    started_at=slack.clock(),
                    updated_at=slack.clock(),
                    completed_at=slack.clock(),
                    summary=summary,
                    supervisor_id=SUPERVISOR,
                )
            )
    response = slack.command(PRACTITIONER, "history CSC-2011")
    blocks = json.loads(response.body)["blocks"]
    assert len(blocks) <= 50
    text = ephemeral_text(response)
    assert "The 3 reflections on CSC-2011 are too long to show here" in text
    history = slack.texts_to(PRACTITIONER)
    assert "3 reflections on CSC-2011" in history[0]
    assert "\n".join(history).count("Summary: CSC-2011") == 3
    assert f"({len(history)} messages)" in text
    assert all(call.ok for call in slack.fake.calls)
