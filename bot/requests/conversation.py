"""The conversation's requests: start, answer (filed under the question on screen when it was
typed), a click on a question's control, and asking the current question again.

An answer or a start from a chat front end is stored in the inbox before the platform is
acknowledged, and handled after on the inbox's threads; a start from a button, or anything from
the terminal, is handled at once. Either way one transaction does the work and records what is
said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.messaging import handled
from bot.messaging.inbox import NotYet, Received
from bot.messaging.message import Part
from bot.messaging.replies import stamp_is_current
from bot.reflection.messages import Position, Reply
from bot.reflection.service import StartPreview
from storage.db import transaction
from storage.models import Reflection
from storage.prompts_shown import on_screen_at

if TYPE_CHECKING:
    from bot.requests.desk import Requests

ANSWER = "answer"
START = "start"
# How long an answer waits, when a question's send is still in flight, before looking again:
# a fifth of a second at first (a send takes about that), longer the longer it has waited (the
# platform is away, and the send's outcome will be known only when it is back).
SETTLING_SECONDS = 0.2
LONGEST_SETTLING_SECONDS = 5.0
# The largest id PostgreSQL's integer column holds: a larger forged one is not looked up.
MAX_RECORD_ID = 2**31 - 1


def record_id(value: object) -> int | None:
    """A row id from a control's value or a prompt stamp; None for anything else (a forged
    value such as "abc", "-1", "²" or a number too big for the column)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if 0 < number <= MAX_RECORD_ID else None


@dataclass(frozen=True)
class Started:
    reply: Reply
    resumed: bool


def request_start(
    requests: Requests, *, practitioner_id: str, case_ref: str, key: str
) -> StartPreview:
    """Refuse at once what starting would refuse; otherwise store the request, to be handled
    after the platform has its answer (``handle_start``)."""
    with transaction(requests.new_session) as session:  # one connection for both
        preview = requests.service.preview_start(
            session, practitioner_id=practitioner_id, case_ref=case_ref
        )
        if preview.refusal is None:
            payload = {"case_ref": preview.case_ref, "key": key}
            requests.inbox.receive(session, kind=START, user_id=practitioner_id, payload=payload)
    return preview


def handle_start(requests: Requests, item: Received) -> None:
    """Start or resume in the person's conversation with Reflect; a refusal that arose since
    (the case was closed in the meantime) is said there instead."""
    try:
        requests.run(
            item.payload["key"],
            item.user_id,
            lambda session: requests.service.start(
                session, practitioner_id=item.user_id, case_ref=item.payload["case_ref"]
            ),
            consumes=item.id,
        )
    except handled.AlreadyHandled:
        return


def start_now(requests: Requests, *, practitioner_id: str, case_ref: str, key: str) -> Started:
    """Start or resume at once (a start control, the terminal)."""
    reply = requests.run(
        key,
        practitioner_id,
        lambda session: requests.service.start(
            session, practitioner_id=practitioner_id, case_ref=case_ref
        ),
    )
    return Started(reply, any(m.template == "resumed" for m in reply.messages))


def receive_answer(
    requests: Requests,
    *,
    practitioner_id: str,
    text: str,
    typed_at: datetime | None,
    key: str,
    named: str | None = None,
) -> bool:
    """Store what a person typed, once (``key`` names it on its platform); False if it was
    stored already. ``named`` is the person the text names, when it is nothing but a person or
    a plan line ending with one (the front end reads its platform's way of writing one)."""
    payload: dict[str, str] = {"key": key, "text": text}
    if typed_at is not None:
        payload["typed_at"] = typed_at.astimezone(UTC).isoformat()
    if named is not None:
        payload["named"] = named
    return requests.inbox.accept(kind=ANSWER, user_id=practitioner_id, payload=payload, key=key)


def handle_answer(requests: Requests, item: Received) -> None:
    """A stored answer goes to the service, filed under the question that was on the person's
    screen when they typed it, in one transaction with the next question it records."""
    typed_at = _typed_at(item.payload)

    def answer(session: Session) -> Reply:
        typed_under = None
        if typed_at is not None:
            shown = on_screen_at(
                session=session,
                recipient=item.user_id,
                typed_at=typed_at,
                sent_not_marked=requests.sent_not_marked,
            )
            if not shown.settled:
                # A question's send is in flight: did it reach them before they typed? (Raised
                # in the step's transaction, which changed nothing yet and is rolled back.)
                raise NotYet(settling_wait(item, requests.now()))
            typed_under = Position.from_key(shown.prompt)
        return requests.service.respond(
            session,
            practitioner_id=item.user_id,
            text=item.payload["text"],
            typed_under=typed_under,
            person=item.payload.get("named"),
        )

    try:
        # One transaction: the item taken, the question on screen looked up, the answer and
        # the next question recorded.
        requests.run(item.payload["key"], item.user_id, answer, consumes=item.id)
    except handled.AlreadyHandled:
        return


def _typed_at(payload: dict[str, str]) -> datetime | None:
    if payload.get("typed_at"):
        return datetime.fromisoformat(payload["typed_at"])
    if payload.get("ts"):  # stored before answers carried their time
        return datetime.fromtimestamp(float(payload["ts"]), UTC)
    return None


def settling_wait(item: Received, now: datetime) -> float:
    waited = (now - item.received_at).total_seconds() if item.received_at else 0.0
    return min(max(waited / 4, SETTLING_SECONDS), LONGEST_SETTLING_SECONDS)


def tell_not_handled(requests: Requests, item: Received) -> None:
    """What a person sent could not be handled after every try: they are told, and that it is
    kept (an operator can try it again)."""
    requests.tell(
        "messages/answer_not_handled",
        key=f"set-aside:{item.id}",
        recipient=item.user_id,
        kind=item.kind,
    )


def click(
    requests: Requests, *, practitioner_id: str, stamp: str | None, text: str, click_id: str
) -> None:
    """A control under a question: answers with ``text`` if it belongs to the question asked
    now. A second click on the same prompt changes nothing (its stamp is claimed with the
    first); a control on an earlier question shows where the conversation is now instead.
    ``click_id`` names this click on its platform."""
    if stamp is None:
        return
    key = f"click:{stamp}"
    if handled.was_taken(requests.new_session, key):
        return
    if not _is_current(requests, practitioner_id, stamp):
        if handled.was_taken(requests.new_session, key):
            return  # a double click: the first moved the conversation on just now
        requests.run(
            f"stale:{stamp}:{click_id}",
            practitioner_id,
            lambda session: requests.service.current_prompt(
                session, practitioner_id=practitioner_id
            ),
            preface=(Part("messages/stale_button"),),
        )
        return
    try:
        requests.run(
            key,
            practitioner_id,
            lambda session: requests.service.respond(
                session, practitioner_id=practitioner_id, text=text
            ),
            claim=key,
        )
    except handled.AlreadyHandled:
        return


def _is_current(requests: Requests, practitioner_id: str, stamp: str) -> bool:
    reflection_id = record_id(stamp.split(".")[0])
    if reflection_id is None:
        return False
    with requests.new_session() as session:
        reflection = session.get(Reflection, reflection_id)
        return (
            reflection is not None
            and reflection.practitioner_id == practitioner_id
            and stamp_is_current(stamp, reflection)
        )
