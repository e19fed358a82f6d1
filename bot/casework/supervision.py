"""What is done about a completed reflection: the supervisor's Acknowledge, promised call, note
and decision; its answers shown to whoever may read them; the practitioner's confirmation that
they spoke to the safeguarding lead.

Each function works in the caller's transaction and returns an CaseworkResult: the refusal to tell
whoever asked, or the notices to record. Every refusal is audited; a value that was not a
reflection id is never written as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import access
from bot.casework.results import CaseworkResult, Notice, reflection_subject
from bot.protection.invisible import as_typed
from bot.protection.screened import Guard
from bot.protection.screening import screen_typed
from bot.reflection.messages import Said
from storage import audit
from storage import casework as queries
from storage import reflections as reflection_queries
from storage.models import Reflection, SupervisorDecision, SupervisorNote

# What a refusal says, by the audit action refused.
_REFUSALS: dict[str, Said] = {
    "acknowledge": Said("notices/not_supervisor", {"action": "acknowledge"}),
    "note": Said("notices/not_supervisor", {"action": "note"}),
    "call_promised": Said("notices/not_supervisor", {"action": "call_promised"}),
    "decision": Said("notices/not_supervisor", {"action": "decision"}),
    "lead_contact": Said("notices/lead_not_yours"),
    "answers": Said("notices/answers_refused"),
}
ACTIONS = tuple(_REFUSALS)


def refuse(
    *, session: Session, action: str, actor: str, reflection_id: int | None, now: datetime
) -> CaseworkResult:
    """Audit a refused ``action`` (one of ACTIONS: a forged button, or one pressed by the wrong
    person) and say how to refuse it."""
    audit.record(
        session=session,
        actor=actor,
        action=f"{action}_refused",
        subject=reflection_subject(reflection_id),
        now=now,
    )
    return CaseworkResult(refusal=_REFUSALS[action])


def _facts(session: Session, reflection: Reflection, actor: str) -> dict[str, Any]:
    case = queries.case_of(session=session, reflection=reflection)
    return {
        "case_ref": case.ref if case else "",
        "practitioner_id": reflection.practitioner_id,
        "supervisor_id": actor,
    }


@dataclass(frozen=True)
class _Mark:
    """Something a supervisor records once on a reflection by pressing a button."""

    stamp: str  # the reflection's column set the first time
    action: str  # the audit action
    key: str  # the notices' key prefix
    templates: tuple[str, str]  # told to the practitioner, and to the supervisor
    shown_as: str  # the supervisor's template's name for when it was first recorded


_ACKNOWLEDGE = _Mark(
    "acknowledged_at",
    "acknowledge",
    "ack",
    ("notices/acknowledged_practitioner", "notices/acknowledged_supervisor"),
    "acknowledged_at",
)
_CALL_PROMISED = _Mark(
    "call_promised_at",
    "call_promised",
    "call",
    ("notices/call_promised_practitioner", "notices/call_promised_supervisor"),
    "promised_at",
)


def acknowledge(
    *, session: Session, reflection_id: int, actor: str, now: datetime
) -> CaseworkResult:
    """The supervisor's Acknowledge: recorded and audited once, the practitioner told once."""
    return _supervisor_marks(
        session, _ACKNOWLEDGE, reflection_id=reflection_id, actor=actor, now=now
    )


def promise_call(
    *, session: Session, reflection_id: int, actor: str, now: datetime
) -> CaseworkResult:
    """The supervisor's "I'll call you before the visit": recorded and audited once, and the
    practitioner told once; a second press only reminds the supervisor when they promised."""
    return _supervisor_marks(
        session, _CALL_PROMISED, reflection_id=reflection_id, actor=actor, now=now
    )


def _supervisor_marks(
    session: Session, mark: _Mark, *, reflection_id: int, actor: str, now: datetime
) -> CaseworkResult:
    reflection = queries.reflection_locked(session=session, reflection_id=reflection_id)
    if reflection is None or not access.can_supervise(
        session=session, actor=actor, reflection=reflection
    ):
        return refuse(
            session=session, action=mark.action, actor=actor, reflection_id=reflection_id, now=now
        )
    facts = _facts(session, reflection, actor)
    already = not _record_first(
        session, reflection, mark.stamp, action=mark.action, actor=actor, now=now
    )
    to_practitioner, to_supervisor = mark.templates
    outcome = CaseworkResult()
    if not already:
        outcome.notices.append(
            Notice(
                reflection.practitioner_id,
                f"{mark.key}:{reflection_id}:practitioner",
                Said(to_practitioner, facts),
            )
        )
    outcome.notices.append(
        Notice(
            actor,
            f"{mark.key}:{reflection_id}:"
            + (f"again:{int(now.timestamp())}" if already else "supervisor"),
            Said(
                to_supervisor,
                {"already": already, mark.shown_as: getattr(reflection, mark.stamp), **facts},
            ),
        )
    )
    return outcome


def _record_first(
    session: Session, reflection: Reflection, stamp: str, *, action: str, actor: str, now: datetime
) -> bool:
    """Set the reflection's ``stamp`` to now and audit ``action``, the first time only; False
    when it was set already (a second click)."""
    if getattr(reflection, stamp) is not None:
        return False
    setattr(reflection, stamp, now)
    session.add(reflection)
    audit.record(
        session=session,
        actor=actor,
        action=action,
        subject=f"reflection:{reflection.id}",
        now=now,
    )
    return True


def may_write_to_practitioner(*, session: Session, reflection_id: int, actor: str) -> bool:
    """Whether ``actor`` may write a note or a decision on this reflection (asked before the
    form to write it is shown)."""
    reflection = reflection_queries.get_reflection(session=session, reflection_id=reflection_id)
    return reflection is not None and access.can_supervise(
        session=session, actor=actor, reflection=reflection
    )


def add_note(
    *,
    session: Session,
    reflection_id: int,
    actor: str,
    text: str,
    now: datetime,
    guard: Guard | None = None,
) -> CaseworkResult:
    """Keep the supervisor's note, screened for identifiers like every answer, and tell the
    practitioner."""
    return _write_to_practitioner(
        session,
        kind="note",
        reflection_id=reflection_id,
        actor=actor,
        text=text,
        now=now,
        guard=guard,
    )


def record_decision(
    *,
    session: Session,
    reflection_id: int,
    actor: str,
    text: str,
    now: datetime,
    guard: Guard | None = None,
) -> CaseworkResult:
    """Keep a decision the supervisor made on this reflection, screened for identifiers the
    same way as a note, and show it to the practitioner."""
    return _write_to_practitioner(
        session,
        kind="decision",
        reflection_id=reflection_id,
        actor=actor,
        text=text,
        now=now,
        guard=guard,
    )


_WRITTEN: dict[str, type[SupervisorNote | SupervisorDecision]] = {
    "note": SupervisorNote,
    "decision": SupervisorDecision,
}


def _write_to_practitioner(
    session: Session,
    *,
    kind: str,
    reflection_id: int,
    actor: str,
    text: str,
    now: datetime,
    guard: Guard | None,
) -> CaseworkResult:
    """A note or a decision: checked, screened, stored and audited, with the practitioner told
    (``<kind>_practitioner``) and word to its author (``<kind>_supervisor``)."""
    reflection = reflection_queries.get_reflection(session=session, reflection_id=reflection_id)
    if reflection is None or not access.can_supervise(
        session=session, actor=actor, reflection=reflection
    ):
        return refuse(
            session=session, action=kind, actor=actor, reflection_id=reflection_id, now=now
        )
    text = as_typed(text)
    if not text.strip():
        refused = refuse(
            session=session, action=kind, actor=actor, reflection_id=reflection_id, now=now
        )
        refused.refusal = Said(f"notices/{kind}_invalid", {"empty": True, "length": 0, "limit": 0})
        return refused
    screened = screen_typed(session, author_id=actor, text=text.strip(), guard=guard)
    written_id = queries.add_note(
        session=session,
        note=_WRITTEN[kind](
            reflection_id=reflection_id, author_id=actor, text=screened.text, created_at=now
        ),
    )
    audit.record(
        session=session,
        actor=actor,
        action=kind,
        subject=f"reflection:{reflection_id}",
        now=now,
        detail={f"{kind}_id": written_id},
    )
    facts = _facts(session, reflection, actor)
    return CaseworkResult(
        screened=screened,
        notices=[
            Notice(
                reflection.practitioner_id,
                f"{kind}:{written_id}:practitioner",
                Said(f"notices/{kind}_practitioner", {kind: screened.text, **facts}),
            ),
            Notice(
                actor,
                f"{kind}:{written_id}:supervisor",
                Said(
                    f"notices/{kind}_supervisor",
                    {"withheld": list(screened.withheld), "warned": list(screened.warned), **facts},
                ),
            ),
        ],
    )


def view_summary(
    *, session: Session, viewer_id: str, reflection_id: int, now: datetime
) -> dict[str, Any] | None:
    """One summary, or None when it does not exist or this viewer may not see it (a forged
    value looks exactly like a missing reflection). Both outcomes are audited."""
    reflection = reflection_queries.get_reflection(session=session, reflection_id=reflection_id)
    allowed = reflection is not None and access.can_see_answers(
        session=session, viewer_id=viewer_id, reflection=reflection
    )
    audit.record(
        session=session,
        actor=viewer_id,
        action="view" if allowed else "view_refused",
        subject=f"reflection:{reflection_id}",
        now=now,
    )
    return reflection.summary if allowed and reflection is not None else None


def show_answers(
    *, session: Session, reflection_id: int, actor: str, shown_under: str, now: datetime
) -> CaseworkResult:
    """The answers of a summary, for whoever asked, if the access rule lets them see the
    reflection (the view is audited either way). Shown once per summary message (``shown_under``
    names it), so a double click shows them once."""
    summary = view_summary(session=session, viewer_id=actor, reflection_id=reflection_id, now=now)
    if summary is None:
        return CaseworkResult(refusal=_REFUSALS["answers"])
    return CaseworkResult(
        notices=[
            Notice(
                actor,
                f"answers:{reflection_id}:{actor}:{shown_under}",
                Said("notices/answers", {"summary": summary, "viewer": actor}),
            )
        ]
    )


def confirm_lead_contact(
    *, session: Session, reflection_id: int, actor: str, now: datetime
) -> CaseworkResult:
    """The practitioner's "I've spoken to the lead": recorded and audited once."""
    reflection = queries.reflection_locked(session=session, reflection_id=reflection_id)
    if reflection is None or not access.can_confirm_lead_contact(
        actor=actor, reflection=reflection
    ):
        return refuse(
            session=session,
            action="lead_contact",
            actor=actor,
            reflection_id=reflection_id,
            now=now,
        )
    already = not _record_first(
        session,
        reflection,
        "lead_contact_confirmed_at",
        action="lead_contact",
        actor=actor,
        now=now,
    )
    case = queries.case_of(session=session, reflection=reflection)
    return CaseworkResult(
        notices=[
            Notice(
                actor,
                f"lead:{reflection_id}:"
                + (f"again:{int(now.timestamp())}" if already else "first"),
                Said(
                    "notices/lead_confirmed",
                    {
                        "already": already,
                        "confirmed_at": reflection.lead_contact_confirmed_at,
                        "case_ref": case.ref if case else "",
                    },
                ),
            )
        ]
    )
