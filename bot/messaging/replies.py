"""Records what Reflect says in the outbox, in the request's transaction: the reflection
service's replies, a completed summary's copies and casework's notices, as templates and data
with the controls each message offers.

Every outgoing message gets a dedupe key derived from what caused it (an event ID, a button's
prompt stamp, a command's trigger ID, a reflection ID), so a retried event or a second click
records nothing new and nobody receives anything twice.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.messaging import outbox
from bot.messaging.delivery import Delivery
from bot.messaging.message import Control, Message, Part
from bot.reflection.messages import Completion, Reply, Said
from storage.models import Reflection
from storage.statuses import ReflectionStatus


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
        and reflection.status == ReflectionStatus.IN_PROGRESS
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


def record_reply(
    session: Session,
    *,
    recipient: str,
    reply: Reply,
    key: str,
    now: datetime,
    delivery: Delivery | None = None,
    preface: tuple[Part, ...] = (),
) -> None:
    """Record what a reply says, in the caller's transaction: its messages for ``recipient``
    (after any ``preface``, such as a note about a stale button), each alert for the supervisor,
    and a completed summary's copies. ``key`` names the request, so a retried one records
    nothing new."""
    stamp = None
    if reply.reflection_id is not None and reply.status == ReflectionStatus.IN_PROGRESS:
        reflection = session.get(Reflection, reply.reflection_id)
        if reflection is not None:
            stamp = prompt_stamp(reflection)
    parts = (*preface, *reply_parts(reply, stamp=stamp))
    if parts:
        outbox.record(
            session,
            key=key,
            recipient=recipient,
            message=Message(parts),
            now=now,
            delivery=delivery,
            asks=None if reply.asks is None else reply.asks.key(),
        )
    for number, alert in enumerate(reply.alerts):
        # The key names the request, so a retried event alerts nobody twice.
        outbox.record(
            session,
            key=f"{key}:alert:{number}",
            recipient=alert.supervisor_id,
            message=Message.of(f"messages/{alert.template}", **alert.data),
            now=now,
            delivery=delivery,
        )
    if reply.completion is not None:
        record_completion(session, reply.completion, now=now, delivery=delivery)


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


def record_template(
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
