"""Building invented cases, reflections and actions for the clock's tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.web import WebClient

from bot.clock.context import ClockContext
from bot.config.clock import ClockConfig
from bot.identity import Directory
from bot.messaging.delivery import Delivery, DeliveryReport
from bot.messaging.message import Message
from bot.slack.frontend import SlackFrontEnd
from bot.working_hours import WorkingHours
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from storage.models import Action, Agency, Case, OutboxMessage, Person, Reflection

LONDON = ZoneInfo("Europe/London")
PRACTITIONER = "U0TESTPRAC"
SUPERVISOR = "U0TESTSUPV"
LEAD = "U0TESTLEAD"
OWNER = "U0TESTOWNR"


def local(text: str) -> datetime:
    """A London wall-clock time as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).astimezone(UTC)


def context_at(
    new_session: SessionFactory,
    when: str | datetime,
    *,
    directory: Directory | None = None,
    config: ClockConfig | None = None,
) -> ClockContext:
    now = local(when) if isinstance(when, str) else when
    return ClockContext(
        new_session=new_session,
        config=config or ClockConfig(),
        hours=WorkingHours(LONDON),
        now=now,
        directory=directory,
    )


def deliver(
    new_session: SessionFactory, client: WebClient, *, now: Callable[[], datetime]
) -> DeliveryReport:
    """Everything due now, sent as the clock sends it."""
    return Delivery(new_session, SlackFrontEnd(client), now=now).deliver_all()


def rendered(message: OutboxMessage) -> dict[str, Any]:
    """The chat.postMessage payload Slack gets for a stored clock message: one post."""
    front_end = SlackFrontEnd(WebClient())
    [post] = front_end.render(
        message.surface, message.recipient, Message.from_json(message.payload)
    )
    return post.payload


def organisation(new_session: SessionFactory, *, clock: dict | None = None) -> None:
    options = {"clock": clock} if clock else {}
    with transaction(new_session) as session:
        org_queries.replace_organisation(
            session=session,
            agencies=[Agency(id="csc", name="Children's Social Care", options=options)],
            leads=[],
            people=[
                Person(person_id=SUPERVISOR, agency_id="csc", role="supervisor"),
                Person(
                    person_id=PRACTITIONER,
                    agency_id="csc",
                    role="practitioner",
                    supervisor_id=SUPERVISOR,
                ),
            ],
        )
        from storage.models import SafeguardingLead

        session.add(SafeguardingLead(agency_id="csc", person_id=LEAD))


def case(
    new_session: SessionFactory,
    ref: str,
    *,
    opened_on: date,
    practitioner: str = PRACTITIONER,
    closed_on: date | None = None,
) -> int:
    with transaction(new_session) as session:
        row = Case(
            ref=ref,
            practitioner_id=practitioner,
            opened_on=opened_on,
            closed_on=closed_on,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add(row)
        session.flush()
        return int(row.id or 0)


def reflection(
    new_session: SessionFactory,
    case_id: int,
    *,
    status: str,
    at: datetime,
    practitioner: str = PRACTITIONER,
    supervisor: str | None = SUPERVISOR,
    acknowledged: bool = False,
    lead_confirmed: bool = False,
) -> int:
    completed = status == "completed"
    with transaction(new_session) as session:
        row = Reflection(
            case_id=case_id,
            practitioner_id=practitioner,
            status=status,
            question_set_version="test",
            started_at=at,
            updated_at=at,
            completed_at=at if completed else None,
            supervisor_id=supervisor if completed else None,
            acknowledged_at=at if acknowledged else None,
            lead_contact_confirmed_at=at if lead_confirmed else None,
        )
        session.add(row)
        session.flush()
        return int(row.id or 0)


def action(
    new_session: SessionFactory,
    reflection_id: int,
    *,
    due_on: date,
    what: str = "Ask the school nurse about attendance",
    owner_person_id: str | None = None,
    done: bool = False,
) -> int:
    with transaction(new_session) as session:
        row = Action(
            reflection_id=reflection_id,
            position=1,
            what=what,
            owner="the school nurse",
            owner_person_id=owner_person_id,
            due_on=due_on,
            status="complete",
            done_at=datetime(2026, 1, 1, tzinfo=UTC) if done else None,
        )
        session.add(row)
        session.flush()
        return int(row.id or 0)
