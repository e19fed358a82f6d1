"""``Requests``: the one path for what a person asks, whatever front end they asked on.

A front end parses its platform's request into plain terms (a person's ID from the organisation
file, the text they typed and when, the value a control carried, a key naming the request on its
platform), calls one method here, and acknowledges. Everything else happens here or below.

One transaction convention holds throughout: a request opens one transaction; the reflection
service, casework and the outbox all work in that session; what is to be said is recorded in the
outbox in the same transaction, and sent after the commit by the one delivery loop through each
recipient's own front end. So a request's change and what it says are committed together or not
at all, and a retried request (its key claimed in the same transaction) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import access, casework
from bot.messaging import handled, outbox
from bot.messaging.delivery import Delivery
from bot.messaging.inbox import Inbox
from bot.messaging.message import Message, Part
from bot.messaging.replies import record_reply, record_template
from bot.protection.screened import Guard
from bot.reflection.messages import Position, Reply, Said
from bot.reflection.questions import QuestionSet
from bot.reflection.service import ReflectionService, StartPreview, utcnow
from bot.report.formats import Short
from bot.report.service import last_month_for
from bot.requests import casework as casework_requests
from bot.requests import conversation
from bot.requests.casework import Written
from bot.requests.conversation import Started
from storage import inbox
from storage.db import SessionFactory, transaction

HISTORY_LIMIT = 5


class Requests:
    def __init__(
        self,
        new_session: SessionFactory,
        *,
        now: Callable[[], datetime] = utcnow,
        timezone: str = "Europe/London",
        guard: Guard | None = None,
        questions: QuestionSet | None = None,
        delivery: Delivery | None = None,
        wake: Callable[[], None] = lambda: None,
        records: bool = True,
        report_small_number: int = 5,
        inbox: Inbox | None = None,
    ) -> None:
        """``records``: replies are recorded in the outbox for the delivery loop to send
        (chat front ends), or only returned (the terminal, whose person is sitting at it).
        ``wake`` is called after a request has recorded messages, so delivery starts at once.
        ``inbox``: one handling items on threads of its own (`reflect serve`); by default each
        item is handled in the request that stores it."""
        self.new_session = new_session
        self.now = now
        self.timezone = timezone
        self.guard = guard
        self.delivery = delivery
        self.wake = wake
        self.records = records
        self.report_small_number = report_small_number
        self.service = ReflectionService(
            questions=questions, guard=guard, timezone=timezone, now=now
        )
        # Where answers and start requests wait between the platform's acknowledgement and
        # being handled.
        self.inbox = inbox or Inbox(new_session, now=now)
        self.inbox.on(
            conversation.ANSWER,
            lambda item: conversation.handle_answer(self, item),
            set_aside=lambda item: conversation.tell_not_handled(self, item),
        )
        self.inbox.on(
            conversation.START,
            lambda item: conversation.handle_start(self, item),
            set_aside=lambda item: conversation.tell_not_handled(self, item),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # ------------------------------------------------------------ the conversation

    def request_start(self, *, practitioner_id: str, case_ref: str, key: str) -> StartPreview:
        """A typed start (``/reflect CASE``, ``reflect CASE``): refused at once, or stored."""
        return conversation.request_start(
            self, practitioner_id=practitioner_id, case_ref=case_ref, key=key
        )

    def start_now(self, *, practitioner_id: str, case_ref: str, key: str) -> Started:
        """A start control pressed: handled at once."""
        return conversation.start_now(
            self, practitioner_id=practitioner_id, case_ref=case_ref, key=key
        )

    def receive_answer(
        self,
        *,
        practitioner_id: str,
        text: str,
        typed_at: datetime | None,
        key: str,
        named: str | None = None,
    ) -> bool:
        return conversation.receive_answer(
            self,
            practitioner_id=practitioner_id,
            text=text,
            typed_at=typed_at,
            key=key,
            named=named,
        )

    def click(self, *, practitioner_id: str, stamp: str | None, text: str, click_id: str) -> None:
        conversation.click(
            self, practitioner_id=practitioner_id, stamp=stamp, text=text, click_id=click_id
        )

    # The terminal's conversation (and tests): handled at once, the reply returned.

    def start(self, *, practitioner_id: str, case_ref: str, key: str = "") -> Reply:
        return self.run(
            key or f"start:{practitioner_id}:{self.now().isoformat()}",
            practitioner_id,
            lambda session: self.service.start(
                session, practitioner_id=practitioner_id, case_ref=case_ref
            ),
        )

    def respond(
        self,
        *,
        practitioner_id: str,
        text: str,
        key: str = "",
        named: str | None = None,
        typed_under: Position | None = None,
    ) -> Reply:
        return self.run(
            key or f"typed:{practitioner_id}:{self.now().isoformat()}",
            practitioner_id,
            lambda session: self.service.respond(
                session,
                practitioner_id=practitioner_id,
                text=text,
                person=named,
                typed_under=typed_under,
            ),
        )

    def current_prompt(self, *, practitioner_id: str) -> Reply:
        """The current question, to show again (nothing is recorded)."""
        with self.new_session() as session:
            return self.service.current_prompt(session, practitioner_id=practitioner_id)

    # ------------------------------------------------------------ cases and summaries

    def control(
        self, *, action: str, person: str, value: object, key: str, shown_under: str = ""
    ) -> None:
        casework_requests.control(
            self, action=action, person=person, value=value, key=key, shown_under=shown_under
        )

    def may_write(self, *, kind: str, person: str, value: object, key: str) -> bool:
        return casework_requests.may_write(self, kind=kind, person=person, value=value, key=key)

    def write(self, *, kind: str, person: str, value: object, text: str, key: str) -> Written:
        return casework_requests.write(
            self, kind=kind, person=person, value=value, text=text, key=key
        )

    def home(self, *, person: str, key: str) -> None:
        casework_requests.home(self, person=person, key=key)

    def open_cases(self, *, person: str) -> list[casework.CaseLine]:
        with self.new_session() as session:
            return casework.open_cases(
                session=session, practitioner_id=person, now=self.now(), zone=self.zone
            )

    def history(self, *, person: str, case_ref: str, via: str) -> casework.History:
        """The newest summaries of a case, if ``person`` may see them (each view audited, with
        the front end it was seen on, ``via``)."""
        with transaction(self.new_session) as session:
            return casework.case_history(
                session=session,
                case_ref=case_ref,
                viewer=person,
                now=self.now(),
                limit=HISTORY_LIMIT,
                via=via,
            )

    def close(self, *, person: str, case_ref: str) -> Said:
        with transaction(self.new_session) as session:
            return casework.close_case(
                session=session, case_ref=case_ref, actor=person, now=self.now(), zone=self.zone
            )

    def last_month_report(self, *, person: str, via: str) -> Short | None:
        """The short version of last month's partnership report, for an administrator (every
        agency) or a safeguarding lead (their own); None for anyone else. Audited, with the
        front end it was asked on (``via``)."""
        return last_month_for(
            self.new_session,
            viewer=person,
            zone=self.zone,
            now=self.now(),
            threshold=self.report_small_number,
            form=via,
        )

    def knows(self, *, person: str) -> bool:
        """Whether the organisation file names ``person`` (a front end ignores anyone else)."""
        with self.new_session() as session:
            return access.is_listed(session=session, person_id=person)

    # ------------------------------------------------------------ saying

    def record_reply(self, *, key: str, recipient: str, reply: Reply) -> None:
        """Record a reply a request returned without recording it (a refusal said at once)."""
        with transaction(self.new_session) as session:
            record_reply(
                session,
                recipient=recipient,
                reply=reply,
                key=key,
                now=self.now(),
                delivery=self.delivery,
            )
        self.wake()

    def run(
        self,
        key: str,
        recipient: str,
        work: Callable[[Session], Reply],
        *,
        consumes: int | None = None,
        claim: str | None = None,
        preface: tuple[Part, ...] = (),
    ) -> Reply:
        """Do ``work`` in one transaction and record its reply there (``key`` names the
        request): ``claim`` is a handled-once key taken with it, ``consumes`` the inbox item it
        handles, removed with it. Raises handled.AlreadyHandled if either was done already.

        When the same request races itself, the loser may trip over the winner's rows before its
        claim does (SQLite has no row locks); once the winner's claim is visible, that conflict
        means "already handled" too."""
        try:
            with transaction(self.new_session) as session:
                now = self.now()
                if claim is not None:
                    handled.take(session=session, key=claim, now=now)
                if consumes is not None and not inbox.take(session=session, item_id=consumes):
                    raise handled.AlreadyHandled(f"inbox:{consumes}")
                reply = work(session)
                if self.records:
                    record_reply(
                        session,
                        recipient=recipient,
                        reply=reply,
                        key=key,
                        now=now,
                        delivery=self.delivery,
                        preface=preface,
                    )
        except IntegrityError:
            if claim is not None and handled.was_taken(self.new_session, claim):
                raise handled.AlreadyHandled(claim) from None
            raise
        if self.records and self.delivery is None:
            # With a delivery, recording woke it already where there was something for its
            # loop (outbox.record); a message claimed as it was recorded goes straight to a
            # sender, and a pass of the loop after every answer would find nothing due.
            self.wake()
        return reply

    def record(self, *, key: str, recipient: str, message: Message) -> None:
        """Record ``message`` for ``recipient`` (a front end's own, such as history that did
        not fit in its reply)."""
        with transaction(self.new_session) as session:
            outbox.record(
                session,
                key=key,
                recipient=recipient,
                message=message,
                now=self.now(),
                delivery=self.delivery,
            )
        self.wake()

    def tell(self, template: str, *, key: str, recipient: str, **data: Any) -> None:
        """Record one message from prompts/<template>.j2 for ``recipient``."""
        with transaction(self.new_session) as session:
            record_template(
                template,
                session=session,
                key=key,
                recipient=recipient,
                now=self.now(),
                delivery=self.delivery,
                **data,
            )
        self.wake()

    def sent_not_marked(self, message_id: int) -> datetime | None:
        """When a message this process sent and has not yet marked sent was posted (the
        delivery loop marks them in batches)."""
        return self.delivery.sent_not_marked(message_id) if self.delivery else None
