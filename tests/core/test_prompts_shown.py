"""Which question was on a person's screen when they typed, from what was sent to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.slack.timestamps import slack_time
from storage import db
from storage.db import transaction
from storage.models import OutboxMessage
from storage.prompts_shown import OnScreen, on_screen_at

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PERSON = "U0TESTPRAC"


def at(seconds: float) -> datetime:
    """A moment so many seconds after NOW."""
    return NOW + timedelta(seconds=seconds)


def sent(
    key: str, prompt: str, status: str, posted_at: datetime | None = None, **extra: object
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
        posted_at=posted_at,
        **extra,
    )


def test_the_newest_question_sent_before_they_typed(new_session: db.SessionFactory) -> None:
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", at(100.0001)))
        session.add(sent("q2", "7|worry|", "sent", at(200.0001)))
    with new_session() as session:
        assert on_screen_at(session=session, recipient=PERSON, typed_at=at(150)) == OnScreen(
            "7|purpose|"
        )
        assert on_screen_at(session=session, recipient=PERSON, typed_at=at(250)) == OnScreen(
            "7|worry|"
        )


def test_a_question_in_flight_is_unsettled_and_one_set_aside_is_passed_over(
    new_session: db.SessionFactory,
) -> None:
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", at(100.0001)))
        session.add(sent("q2", "7|worry|", "sending"))
    with new_session() as session:
        assert not on_screen_at(session=session, recipient=PERSON, typed_at=at(150)).settled
    with transaction(new_session) as session:  # set aside after an uncertain try
        row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "q2")).one()
        row.status, row.uncertain = "failed", True
    with new_session() as session:
        shown = on_screen_at(session=session, recipient=PERSON, typed_at=at(150))
    assert shown == OnScreen("7|purpose|")


def test_a_question_this_process_sent_and_has_not_yet_marked_counts_by_its_known_time(
    new_session: db.SessionFactory,
) -> None:
    """Sent messages are marked in batches a moment later: the sender's own record of Slack's
    time for its post settles an answer typed in that moment, before or after the question."""
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", at(100.0001)))
        session.add(sent("q2", "7|worry|", "sending"))
    with new_session() as session:
        q2 = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == "q2")).one()
        known = {q2.id: at(200.0001)}

        def shown(typed_at: datetime) -> OnScreen:
            return on_screen_at(
                session=session, recipient=PERSON, typed_at=typed_at, sent_not_marked=known.get
            )

        assert shown(at(250)) == OnScreen("7|worry|")
        assert shown(at(150)) == OnScreen("7|purpose|")
        known.clear()  # another process's send: its outcome is not known here
        assert not shown(at(250)).settled


def test_a_reply_in_the_same_microsecond_as_the_question_was_typed_under_it(
    new_session: db.SessionFactory,
) -> None:
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", at(100)))
        session.add(sent("q2", "7|worry|", "sent", at(200)))
    with new_session() as session:

        def shown(typed_at: datetime) -> OnScreen:
            return on_screen_at(session=session, recipient=PERSON, typed_at=typed_at)

        assert shown(at(200)) == OnScreen("7|worry|")
        assert shown(at(200) - timedelta(microseconds=1)) == OnScreen("7|purpose|")


def test_a_question_sent_where_no_time_is_known_counts_as_seen(
    new_session: db.SessionFactory,
) -> None:
    with transaction(new_session) as session:
        session.add(sent("q1", "7|purpose|", "sent", at(100)))
        session.add(sent("q2", "7|worry|", "sent", None))
    with new_session() as session:
        assert on_screen_at(session=session, recipient=PERSON, typed_at=at(150)) == OnScreen(
            "7|worry|"
        )


def test_a_slack_ts_is_read_to_the_microsecond() -> None:
    assert slack_time("1765432100.000200") == datetime(2025, 12, 11, 5, 48, 20, 200, tzinfo=UTC)
    assert slack_time("1765432100") == datetime(2025, 12, 11, 5, 48, 20, tzinfo=UTC)
    for not_a_ts in ("", None, "abc", "1765432100.0000001", "-1.5"):
        assert slack_time(not_a_ts) is None
