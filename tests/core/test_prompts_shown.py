"""Which question was on a person's screen when they typed, from what was sent to them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from storage import db
from storage.db import transaction
from storage.models import OutboxMessage
from storage.prompts_shown import OnScreen, on_screen_at

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PERSON = "U0TESTPRAC"


def sent(
    key: str, prompt: str, status: str, ts: str | None = None, **extra: object
) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=key,
        surface="conversation",
        recipient=PERSON,
        payload={},
        status=status,
        attempts=1,
        next_attempt_at=NOW,
        created_at=NOW,
        prompt=prompt,
        posted_ref=ts,
        **extra,
    )


def test_the_newest_question_sent_before_they_typed(new_session: db.SessionFactory) -> None:
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", "1700000100.000100"))
        session.add(sent("q2", "7|worry|", "sent", "1700000200.000100"))
    with new_session() as session:
        assert on_screen_at(session=session, recipient=PERSON, ts="1700000150.0") == OnScreen(
            "7|purpose|"
        )
        assert on_screen_at(session=session, recipient=PERSON, ts="1700000250.0") == OnScreen(
            "7|worry|"
        )


def test_a_question_in_flight_is_unsettled_and_one_set_aside_is_passed_over(
    new_session: db.SessionFactory,
) -> None:
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", "1700000100.000100"))
        session.add(sent("q2", "7|worry|", "sending"))
    with new_session() as session:
        assert not on_screen_at(session=session, recipient=PERSON, ts="1700000150.0").settled
    with transaction(new_session) as session:  # set aside after an uncertain try
        row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "q2")).one()
        row.status, row.uncertain = "failed", True
    with new_session() as session:
        shown = on_screen_at(session=session, recipient=PERSON, ts="1700000150.0")
    assert shown == OnScreen("7|purpose|")


def test_a_question_this_process_sent_and_has_not_yet_marked_counts_by_its_known_time(
    new_session: db.SessionFactory,
) -> None:
    """Sent messages are marked in batches a moment later: the sender's own record of Slack's
    timestamp settles an answer typed in that moment, before or after the question."""
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", "1700000100.000100"))
        session.add(sent("q2", "7|worry|", "sending"))
    with new_session() as session:
        q2 = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "q2")).one()
        known = {q2.id: "1700000200.000100"}

        def shown(ts: str) -> OnScreen:
            return on_screen_at(session=session, recipient=PERSON, ts=ts, sent_not_marked=known.get)

        assert shown("1700000250.0") == OnScreen("7|worry|")
        assert shown("1700000150.0") == OnScreen("7|purpose|")
        known.clear()  # another process's send: its outcome is not known here
        assert not shown("1700000250.0").settled
