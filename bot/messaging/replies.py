"""Records the reflection service's replies in the outbox, inside the service's own
transaction, as templates and data with the actions each message offers.

Every outgoing message gets a dedupe key derived from what caused it (an event ID, a button's
prompt stamp, a command's trigger ID, a reflection ID), so a retried event or a second click
records nothing new and nobody receives anything twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.messaging import handled, outbox
from bot.messaging.delivery import Delivery
from bot.messaging.message import Control, Message, Part
from bot.reflection.messages import Completion, Reply, Said
from storage import inbox
from storage.models import Reflection


def prompt_stamp(reflection: Reflection) -> str:
    """Names one prompt: the reflection, when it was shown (so each showing is answered once),
    and which question and step it asks (so its controls stay good while that is unanswered)."""
    micros = int(reflection.updated_at.timestamp() * 1_000_000)
    return f"{reflection.id}.{micros}.{_position(reflection)}"


def stamp_is_current(stamp: str, reflection: Reflection) -> bool:
    """Whether controls stamped ``stamp`` answer the question ``reflection`` is asking now."""
    parts = stamp.split(".")
    return (
        len(parts) == 3
        and parts[0] == str(reflection.id)
        and reflection.status == "in_progress"
        and parts[2] == _position(reflection)
    )


def _position(reflection: Reflection) -> str:
    where = f"{reflection.current_question}|{reflection.current_step}"
    return format(zlib.crc32(where.encode()), "08x")


def is_summary(message: Said) -> bool:
    return message.template == "summary" and "with_answers" not in message.data


def has_answers(summary: dict[str, Any]) -> bool:
    """Whether a summary holds any answers to show behind the button."""
    return any(theme.get("entries") for theme in summary.get("themes") or [])


def reply_parts(reply: Reply, *, stamp: str | None) -> list[Part]:
    """Every message of a reply as a part, with the controls it offers."""
    return [
        Part(
            f"messages/{said.template}",
            {**said.data, "with_answers": False} if is_summary(said) else said.data,
            _controls(said, stamp=stamp, reply=reply),
        )
        for said in reply.messages
    ]


def _controls(said: Said, *, stamp: str | None, reply: Reply) -> tuple[Control, ...]:
    if is_summary(said):
        # The answers wait behind a control; the terminal prints everything.
        rid = reply.completion.reflection_id if reply.completion else reply.reflection_id
        summary = said.data.get("summary") or {}
        if rid is None or not has_answers(summary):
            return ()
        return (Control("show_answers", str(rid)),)
    if said.template == "lead_reminder" and reply.completion is not None:
        return (Control("confirm_lead_contact", str(reply.completion.reflection_id)),)
    if stamp is not None and said.template in {"confirm", "question"}:
        return (Control("answer", stamp),)
    return ()


class ReplySink:
    """Records one request's reply (a bot/reflection ReplySink). ``key`` names the request;
    ``handled_key`` (optional) is the handled-once key taken in the same transaction;
    ``consumes`` (optional) the inbox item being handled, removed in the same transaction;
    ``preface`` parts go before the reply (a note about a stale button)."""

    def __init__(
        self,
        *,
        key: str,
        now: Callable[[], datetime],
        delivery: Delivery | None = None,
        handled_key: str | None = None,
        consumes: int | None = None,
        preface: tuple[Part, ...] = (),
    ) -> None:
        self.key = key
        self.handled_key = handled_key
        self.consumes = consumes
        self.now = now
        self.delivery = delivery
        self.preface = preface
        self.recorded = False

    def record(self, session: Session, practitioner_id: str, reply: Reply) -> None:
        now = self.now()
        if self.handled_key:
            handled.take(session=session, key=self.handled_key, now=now)
        if self.consumes is not None and not inbox.take(session=session, item_id=self.consumes):
            raise handled.AlreadyHandled(f"inbox:{self.consumes}")
        stamp = None
        if reply.reflection_id is not None and reply.status == "in_progress":
            reflection = session.get(Reflection, reply.reflection_id)
            if reflection is not None:
                stamp = prompt_stamp(reflection)
        parts = (*self.preface, *reply_parts(reply, stamp=stamp))
        if parts:
            outbox.record(
                session,
                key=self.key,
                recipient=practitioner_id,
                message=Message(parts),
                now=now,
                delivery=self.delivery,
                asks=None if reply.asks is None else reply.asks.key(),
            )
        for number, alert in enumerate(reply.alerts):
            # The key names the request, so a retried event alerts nobody twice.
            outbox.record(
                session,
                key=f"{self.key}:alert:{number}",
                recipient=alert.supervisor_id,
                message=Message.of(f"messages/{alert.template}", **alert.data),
                now=now,
                delivery=self.delivery,
            )
        if reply.completion is not None:
            record_completion(session, reply.completion, now=now, delivery=self.delivery)
        self.recorded = True


def record_completion(
    session: Session, completion: Completion, *, now: datetime, delivery: Delivery | None = None
) -> None:
    """The supervisor's copy with its controls (acknowledge, add a note, a call before the
    visit, record a decision, show the answers), and the leads' copy if shared."""
    rid = str(completion.reflection_id)
    answers = has_answers(completion.summary)
    show = (Control("show_answers", rid),) if answers else ()
    facts = {"practitioner_id": completion.practitioner_id, "case_ref": completion.case_ref}
    if completion.supervisor_id:
        supervising = tuple(
            Control(action, rid)
            for action in ("acknowledge", "add_note", "call_promised", "record_decision")
        )
        parts = (
            Part("messages/supervisor_intro", facts),
            Part(
                "messages/summary",
                {"summary": completion.summary, "audience": "supervisor", "with_answers": False},
                supervising + show,
            ),
        )
        outbox.record(
            session,
            key=f"done:{rid}:supervisor",
            recipient=completion.supervisor_id,
            message=Message(parts),
            now=now,
            delivery=delivery,
        )
    if completion.leads_see_summaries:
        parts = (
            Part("messages/lead_copy_intro", facts),
            Part(
                "messages/summary",
                {"summary": completion.summary, "audience": "lead", "with_answers": False},
                show,
            ),
        )
        for lead in completion.lead_ids:
            if lead == completion.supervisor_id:
                continue
            outbox.record(
                session,
                key=f"done:{rid}:lead:{lead}",
                recipient=lead,
                message=Message(parts),
                now=now,
                delivery=delivery,
            )


def say(
    template: str,
    *,
    session: Session,
    key: str,
    recipient: str,
    now: datetime,
    delivery: Delivery | None = None,
    **data: Any,
) -> None:
    """Record one message from ``prompts/<template>.j2``."""
    outbox.record(
        session,
        key=key,
        recipient=recipient,
        message=Message.of(template, **data),
        now=now,
        delivery=delivery,
    )
