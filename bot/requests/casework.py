"""Requests about cases and completed reflections: the supervisor's controls, notes and
decisions, the answers behind a summary, lead contact, history, closing a case, the list of open
cases and the home page. Casework decides (bot/casework/); this records what it says, in the same
transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import casework
from bot.messaging import handled, outbox
from bot.messaging.message import HOME, Control, Message, Part
from bot.messaging.replies import record_template
from bot.reflection.messages import Said
from bot.requests.conversation import record_id
from storage.db import transaction

if TYPE_CHECKING:
    from bot.requests.desk import Requests

# The longest note or decision kept: a supervisor's few lines, inside every platform's limits.
NOTE_LIMIT = 2900
DECISION_LIMIT = 2900
WRITING_LIMITS = {"note": NOTE_LIMIT, "decision": DECISION_LIMIT}

Act = Callable[..., casework.CaseworkResult]

# A control under a summary: the casework it does, and the action its refusal is audited as.
CONTROLS: dict[str, tuple[str, Act]] = {
    "acknowledge": ("acknowledge", casework.acknowledge),
    "call_promised": ("call_promised", casework.promise_call),
    "confirm_lead_contact": ("lead_contact", casework.confirm_lead_contact),
    "show_answers": ("answers", casework.show_answers),
}
WRITING: dict[str, Act] = {"note": casework.add_note, "decision": casework.record_decision}


@dataclass(frozen=True)
class Written:
    """A note or decision as the request left it: kept, already kept (a repeat), or refused
    with what to say in the form, which stays open so nothing written is lost."""

    refusal: Said | None = None

    @property
    def kept(self) -> bool:
        return self.refusal is None


def act(
    requests: Requests, act: Act, claim: str | None = None, **request: Any
) -> casework.CaseworkResult:
    """Run casework in one transaction with the messages it records (and, if it was done,
    the handled-once ``claim``)."""
    now = requests.now()
    with transaction(requests.new_session) as session:
        outcome = act(session=session, now=now, **request)
        if claim is not None and outcome.done:
            handled.take(session=session, key=claim, now=now)
        for notice in outcome.notices:
            record_template(
                notice.message.template,
                session=session,
                key=notice.key,
                recipient=notice.recipient,
                now=now,
                delivery=requests.delivery,
                **notice.message.data,
            )
    requests.wake()
    return outcome


def control(
    requests: Requests,
    *,
    action: str,
    person: str,
    value: object,
    key: str,
    shown_under: str = "",
) -> None:
    """A control under a summary (``action`` is one of CONTROLS) naming a reflection by
    ``value``: a value that names no reflection is refused and audited; so is a person the
    access rule refuses, who is told why. ``key`` names the press on its platform;
    ``shown_under`` the message the control is on, so its answers are shown once per message
    however often it is pressed."""
    audited_as, work = CONTROLS[action]
    if action == "show_answers":
        work = _shown_under(shown_under or key)
    reflection_id = record_id(value)
    if reflection_id is None:
        outcome = act(
            requests, casework.refuse, action=audited_as, actor=person, reflection_id=None
        )
    else:
        outcome = act(requests, work, reflection_id=reflection_id, actor=person)
    if outcome.refusal is not None:
        requests.tell(
            outcome.refusal.template,
            key=f"refused:{key}",
            recipient=person,
            **outcome.refusal.data,
        )


def _shown_under(key: str) -> Act:
    shown_under = "".join(c for c in key if c.isalnum() or c in ".-_:")[:64]

    def show(**request: Any) -> casework.CaseworkResult:
        return casework.show_answers(shown_under=shown_under, **request)

    return show


def may_write(requests: Requests, *, kind: str, person: str, value: object, key: str) -> bool:
    """Whether ``person`` may write a note or decision on the reflection ``value`` names, asked
    before the form is shown; a refusal is audited and the person told why."""
    reflection_id = record_id(value)
    if reflection_id is not None:
        with requests.new_session() as session:
            if casework.may_write_to_practitioner(
                session=session, reflection_id=reflection_id, actor=person
            ):
                return True
    outcome = act(requests, casework.refuse, action=kind, actor=person, reflection_id=reflection_id)
    if outcome.refusal is not None:
        requests.tell(
            outcome.refusal.template,
            key=f"refused:{key}",
            recipient=person,
            **outcome.refusal.data,
        )
    return False


def write(
    requests: Requests, *, kind: str, person: str, value: object, text: str, key: str
) -> Written:
    """A note or decision submitted from its form: checked, then kept once (``key`` names the
    submission on its platform and is claimed with it, so a repeat keeps nothing new)."""
    limit = WRITING_LIMITS[kind]
    text = text.strip()
    if not text or len(text) > limit:
        return Written(
            Said(
                f"notices/{kind}_invalid", {"empty": not text, "length": len(text), "limit": limit}
            )
        )
    reflection_id = record_id(value)
    try:
        if reflection_id is None:
            outcome = act(requests, casework.refuse, action=kind, actor=person, reflection_id=None)
        else:
            outcome = act(
                requests,
                WRITING[kind],
                claim=key,
                reflection_id=reflection_id,
                actor=person,
                text=text,
                guard=requests.guard,
            )
    except handled.AlreadyHandled:
        return Written()
    return Written(outcome.refusal)


def home(requests: Requests, *, person: str, key: str) -> None:
    """The person's home page, with a start control per open case, recorded for the home
    surface once per opening (``key``)."""
    try:
        with transaction(requests.new_session) as session:
            now = requests.now()
            handled.take(session=session, key=key, now=now)
            page = casework.home(session=session, user_id=person, now=now, zone=requests.zone)
            data = page.data()
            starts = tuple(Control("start", case.ref) for case in data["cases"])
            outbox.record(
                session,
                key=key,
                recipient=person,
                message=Message((Part("home", data, starts),)),
                now=now,
                delivery=requests.delivery,
                surface=HOME,
            )
    except handled.AlreadyHandled:
        return
    requests.wake()
