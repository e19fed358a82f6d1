"""The clock reaches a person on Teams as it reaches one on Slack: a nudge, a reminder or a
digest for someone known by their Microsoft Entra object ID is recorded for them, never passed
over because their ID is not Slack's."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select

from bot.clock import jobs
from bot.identity import platform_of
from bot.messaging.message import Message
from bot.render import Renderer
from bot.teams.dialect import TEAMS
from storage.db import SessionFactory
from storage.models import ClockPrompt, OutboxMessage
from tests.clock import helpers as h

TEAMS_PRAC = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
TEAMS_OWNER = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"


def outbox_rows(new_session: SessionFactory) -> list[OutboxMessage]:
    with new_session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def in_teams(message: OutboxMessage) -> str:
    """The stored message as the Teams dialect renders it."""
    render = Renderer(TEAMS)
    parts = Message.from_json(message.payload).parts
    return "\n".join(render.render(f"{part.template}.j2", **part.data) for part in parts)


def test_an_unfinished_reflection_on_teams_is_nudged(new_session: SessionFactory) -> None:
    now = h.local("2026-12-08T10:00")
    case_id = h.case(new_session, "CSC-5001", opened_on=date(2026, 11, 1), practitioner=TEAMS_PRAC)
    paused = h.reflection(
        new_session, case_id, status="paused", at=now - timedelta(hours=25), practitioner=TEAMS_PRAC
    )
    assert jobs.unfinished_reflections(h.context_at(new_session, now)) == 1
    [message] = outbox_rows(new_session)
    assert (message.recipient, message.dedupe_key) == (TEAMS_PRAC, f"unfinished:{paused}")
    assert platform_of(message.recipient) == "teams"
    shown = in_teams(message)
    assert "**CSC-5001**" in shown and "**reflect CSC-5001**" in shown and "/reflect" not in shown
    with new_session() as session:
        [prompt] = session.exec(select(ClockPrompt)).all()
    assert prompt.recipient_id == TEAMS_PRAC


def test_a_slack_practitioner_and_a_teams_owner_are_both_reminded(
    new_session: SessionFactory,
) -> None:
    reflected = h.case(new_session, "CSC-7001", opened_on=date(2026, 11, 1))
    reflection_id = h.reflection(
        new_session,
        reflected,
        status="completed",
        at=h.local("2026-12-01T10:00"),
        lead_confirmed=True,
    )
    action_id = h.action(
        new_session, reflection_id, due_on=date(2026, 12, 9), owner_person_id=TEAMS_OWNER
    )
    assert jobs.action_reminders(h.context_at(new_session, "2026-12-09T10:00")) == 2
    practitioner, owner = outbox_rows(new_session)
    assert practitioner.recipient == h.PRACTITIONER
    assert (owner.recipient, owner.dedupe_key) == (
        TEAMS_OWNER,
        f"action_due:{action_id}:{TEAMS_OWNER}",
    )
    # The Slack practitioner cannot be mentioned in Teams: the owner reads their ID.
    assert h.PRACTITIONER in in_teams(owner) and "<@" not in in_teams(owner)


def test_a_supervisor_on_teams_gets_the_weekly_digest(new_session: SessionFactory) -> None:
    reflected = h.case(new_session, "CSC-8001", opened_on=date(2026, 11, 1))
    h.reflection(
        new_session,
        reflected,
        status="completed",
        at=h.local("2026-12-03T10:00"),
        supervisor=TEAMS_OWNER,
        lead_confirmed=True,
    )
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-07T09:10")) == 1
    [digest] = outbox_rows(new_session)
    assert digest.recipient == TEAMS_OWNER
    assert "CSC-8001" in in_teams(digest)
