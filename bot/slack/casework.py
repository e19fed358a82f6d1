"""What the Slack app does besides the conversation: list, close and history of cases, the
supervisor's acknowledgement, note, promised call and recorded decision, the answers shown behind
a summary's button, and the practitioner's confirmation of lead contact.

Each function runs in one transaction and records its outgoing messages in the outbox in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.access import can_view_reflection
from bot.messaging import handled
from bot.messaging.replies import say
from bot.protection.records import case_subject, valid_case_ref, view_summary
from bot.protection.screening import screen_typed
from bot.reflection.messages import Guard
from bot.reflection.service import normalise_case_ref
from bot.render import Renderer
from storage import audit
from storage import cases as case_queries
from storage import organisation as org_queries
from storage import reflections as reflection_queries
from storage.db import SessionFactory, transaction
from storage.models import Action, Case, Reflection, SupervisorDecision, SupervisorNote


@dataclass(frozen=True)
class CaseLine:
    ref: str
    days_open: int
    days_since_reflection: int | None
    in_progress: bool = False


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def open_cases(
    *, session: Session, practitioner_id: str, now: datetime, zone: ZoneInfo
) -> list[CaseLine]:
    today = local_day(now, zone)
    under_way = {
        case.id
        for _, case in reflection_queries.open_reflections_of(
            session=session, practitioner_id=practitioner_id
        )
    }
    lines = []
    for case in case_queries.open_cases_of(session=session, practitioner_id=practitioner_id):
        last = case_queries.last_completed_at(session=session, case_id=case.id or 0)
        lines.append(
            CaseLine(
                ref=case.ref,
                days_open=(today - case.opened_on).days,
                days_since_reflection=None
                if last is None
                else (today - local_day(last, zone)).days,
                in_progress=case.id in under_way,
            )
        )
    return lines


@dataclass
class CloseResult:
    template: str
    data: dict[str, Any] = field(default_factory=dict)


def close_case(
    new_session: SessionFactory, *, case_ref: str, actor: str, now: datetime, zone: ZoneInfo
) -> CloseResult:
    """Close a case: allowed to its practitioner and their supervisor. Open reflections on it
    are cancelled, so nobody is prompted about a closed case."""
    ref = normalise_case_ref(case_ref)[:40]
    with transaction(new_session) as session:
        case = case_queries.get_case(session=session, ref=ref)
        if case is None:
            return CloseResult("close_refused", {"case_ref": ref, "found": False})
        person = org_queries.get_person(session=session, slack_id=case.practitioner_id)
        allowed = actor == case.practitioner_id or (
            person is not None and person.supervisor_id == actor
        )
        if not allowed:
            return CloseResult("close_refused", {"case_ref": ref, "found": True, "already": False})
        if case.closed_on is not None:
            return CloseResult("close_refused", {"case_ref": ref, "found": True, "already": True})
        case.closed_on = local_day(now, zone)
        session.add(case)
        stopped = False
        for reflection in session.exec(
            select(Reflection).where(
                Reflection.case_id == case.id,
                col(Reflection.status).in_(reflection_queries.OPEN_STATUSES),
            )
        ):
            reflection.status = "cancelled"
            reflection.updated_at = now
            session.add(reflection)
            stopped = True
        audit.record(session=session, actor=actor, action="close", subject=f"case:{ref}", now=now)
        return CloseResult("case_closed_done", {"case_ref": ref, "paused": stopped})


@dataclass
class History:
    allowed: bool
    case_ref: str
    summaries: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def case_history(
    new_session: SessionFactory, *, case_ref: str, viewer: str, now: datetime, limit: int
) -> History:
    """The summaries of a case the viewer may see (bot.access decides), each view audited.
    A case that does not exist is refused exactly like one the viewer may not see."""
    ref = valid_case_ref(case_ref)
    with transaction(new_session) as session:
        case = case_queries.get_case(session=session, ref=ref) if ref else None
        if case is None or ref is None:
            # Something typed in error (a name, say) is never written to the audit as typed.
            audit.record(
                session=session,
                actor=viewer,
                action="view_refused",
                subject=case_subject(ref),
                now=now,
            )
            return History(False, ref or normalise_case_ref(case_ref)[:40])
        reflections = reflection_queries.completed_reflections_for_case(
            session=session, case_id=case.id or 0
        )
        person = org_queries.get_person(session=session, slack_id=case.practitioner_id)
        owns_case = viewer == case.practitioner_id or (
            person is not None and person.supervisor_id == viewer
        )
        visible = [
            r
            for r in reflections
            if can_view_reflection(session=session, viewer_id=viewer, reflection=r)
        ]
        if not owns_case and not visible:
            audit.record(
                session=session,
                actor=viewer,
                action="view_refused",
                subject=f"case:{ref}",
                now=now,
            )
            return History(False, ref)
        shown = [r for r in visible if r.summary][:limit]
        for reflection in shown:
            audit.record(
                session=session,
                actor=viewer,
                action="view",
                subject=f"reflection:{reflection.id}",
                now=now,
                detail={"via": "slack", "case_ref": ref},
            )
        total = sum(1 for r in visible if r.summary)
        return History(True, ref, [r.summary for r in shown if r.summary], total)


@dataclass
class Outcome:
    """What to tell the person who pressed a button, if anything beyond the DMs recorded."""

    refused_template: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


# What each button's refusal says, by the audit action it was refused.
_REFUSALS: dict[str, Outcome] = {
    "acknowledge": Outcome("not_supervisor", {"action": "acknowledge"}),
    "note": Outcome("not_supervisor", {"action": "note"}),
    "call_promised": Outcome("not_supervisor", {"action": "call_promised"}),
    "decision": Outcome("not_supervisor", {"action": "decision"}),
    "lead_contact": Outcome("lead_not_yours"),
    "answers": Outcome("answers_refused"),
}


def _refused(
    session: Session, *, action: str, actor: str, reflection_id: int | None, now: datetime
) -> Outcome:
    """Audit a refused attempt (a forged button, or one pressed by the wrong person) and say
    how to refuse it. A value that was not an id is never written as given."""
    subject = f"reflection:{reflection_id}" if reflection_id is not None else "reflection:invalid"
    audit.record(session=session, actor=actor, action=f"{action}_refused", subject=subject, now=now)
    return _REFUSALS[action]


def refuse(
    new_session: SessionFactory,
    *,
    action: str,
    actor: str,
    reflection_id: int | None,
    now: datetime,
) -> Outcome:
    """Refuse ``action`` (a key of _REFUSALS) without looking further."""
    with transaction(new_session) as session:
        return _refused(session, action=action, actor=actor, reflection_id=reflection_id, now=now)


def _supervises(session: Session, actor: str, reflection: Reflection) -> bool:
    person = org_queries.get_person(session=session, slack_id=reflection.practitioner_id)
    return actor in {reflection.supervisor_id, person.supervisor_id if person else None} - {None}


def _case_ref(session: Session, reflection: Reflection) -> str:
    case = session.get(Case, reflection.case_id)
    return case.ref if case else ""


def acknowledge(
    new_session: SessionFactory,
    *,
    reflection_id: int,
    actor: str,
    now: datetime,
    renderer: Renderer,
) -> Outcome:
    """The supervisor's Acknowledge: recorded and audited once, the practitioner told once."""
    return _supervisor_marks(
        new_session,
        _ACKNOWLEDGE,
        reflection_id=reflection_id,
        actor=actor,
        now=now,
        renderer=renderer,
    )


def promise_call(
    new_session: SessionFactory,
    *,
    reflection_id: int,
    actor: str,
    now: datetime,
    renderer: Renderer,
) -> Outcome:
    """The supervisor's "I'll call you before the visit": recorded and audited once, and the
    practitioner told once; a second press only reminds the supervisor when they promised."""
    return _supervisor_marks(
        new_session,
        _CALL_PROMISED,
        reflection_id=reflection_id,
        actor=actor,
        now=now,
        renderer=renderer,
    )


@dataclass(frozen=True)
class _Mark:
    """Something a supervisor records once on a reflection by pressing a button."""

    stamp: str  # the reflection's column set the first time
    action: str  # the audit action
    key: str  # the outbox key prefix
    templates: tuple[str, str]  # told to the practitioner, and to the supervisor
    shown_as: str  # the supervisor's template's name for when it was first recorded


_ACKNOWLEDGE = _Mark(
    "acknowledged_at",
    "acknowledge",
    "ack",
    ("acknowledged_practitioner", "acknowledged_supervisor"),
    "acknowledged_at",
)
_CALL_PROMISED = _Mark(
    "call_promised_at",
    "call_promised",
    "call",
    ("call_promised_practitioner", "call_promised_supervisor"),
    "promised_at",
)


def _supervisor_marks(
    new_session: SessionFactory,
    mark: _Mark,
    *,
    reflection_id: int,
    actor: str,
    now: datetime,
    renderer: Renderer,
) -> Outcome:
    with transaction(new_session) as session:
        # Locked, so a double click on PostgreSQL records (and tells) once.
        reflection = session.get(Reflection, reflection_id, with_for_update=True)
        if (
            reflection is None
            or reflection.status != "completed"
            or not _supervises(session, actor, reflection)
        ):
            return _refused(
                session, action=mark.action, actor=actor, reflection_id=reflection_id, now=now
            )
        facts = {
            "case_ref": _case_ref(session, reflection),
            "practitioner_id": reflection.practitioner_id,
            "supervisor_id": actor,
        }
        already = not _record_first(
            session, reflection, mark.stamp, action=mark.action, actor=actor, now=now
        )
        to_practitioner, to_supervisor = mark.templates
        if not already:
            say(
                to_practitioner,
                session=session,
                key=f"{mark.key}:{reflection_id}:practitioner",
                recipient=reflection.practitioner_id,
                now=now,
                **facts,
            )
        say(
            to_supervisor,
            session=session,
            key=f"{mark.key}:{reflection_id}:"
            + (f"again:{int(now.timestamp())}" if already else "supervisor"),
            recipient=actor,
            now=now,
            already=already,
            **{mark.shown_as: getattr(reflection, mark.stamp)},
            **facts,
        )
        return Outcome()


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


def may_add_note(new_session: SessionFactory, *, reflection_id: int, actor: str) -> bool:
    """Whether ``actor`` may write to the practitioner about this reflection (a note or a
    decision): its supervisor, once it is completed."""
    with new_session() as session:
        reflection = session.get(Reflection, reflection_id)
        return (
            reflection is not None
            and reflection.status == "completed"
            and _supervises(session, actor, reflection)
        )


def add_note(
    new_session: SessionFactory,
    *,
    reflection_id: int,
    actor: str,
    text: str,
    claim_key: str,
    now: datetime,
    renderer: Renderer,
    guard: Guard | None = None,
) -> Outcome:
    """Keep the supervisor's note, screened for identifiers like every answer, and send it to
    the practitioner; once per modal submission."""
    return _write_to_practitioner(
        new_session,
        kind="note",
        reflection_id=reflection_id,
        actor=actor,
        text=text,
        claim_key=claim_key,
        now=now,
        renderer=renderer,
        guard=guard,
    )


def record_decision(
    new_session: SessionFactory,
    *,
    reflection_id: int,
    actor: str,
    text: str,
    claim_key: str,
    now: datetime,
    renderer: Renderer,
    guard: Guard | None = None,
) -> Outcome:
    """Keep a decision the supervisor made on this reflection, screened for identifiers the
    same way as a note, and show it to the practitioner; once per modal submission."""
    return _write_to_practitioner(
        new_session,
        kind="decision",
        reflection_id=reflection_id,
        actor=actor,
        text=text,
        claim_key=claim_key,
        now=now,
        renderer=renderer,
        guard=guard,
    )


_WRITTEN: dict[str, type[SupervisorNote | SupervisorDecision]] = {
    "note": SupervisorNote,
    "decision": SupervisorDecision,
}


def _write_to_practitioner(
    new_session: SessionFactory,
    *,
    kind: str,
    reflection_id: int,
    actor: str,
    text: str,
    claim_key: str,
    now: datetime,
    renderer: Renderer,
    guard: Guard | None,
) -> Outcome:
    """A note or a decision: checked, screened, stored, audited and sent to the practitioner
    (``<kind>_practitioner``) with word to its author (``<kind>_supervisor``), in one
    transaction; a repeated submission (``claim_key`` taken) raises AlreadyHandled."""
    with transaction(new_session) as session:
        reflection = session.get(Reflection, reflection_id)
        if reflection is None or not _supervises(session, actor, reflection):
            return _refused(session, action=kind, actor=actor, reflection_id=reflection_id, now=now)
        handled.take(session=session, key=claim_key, now=now)
        screened = screen_typed(session, author_id=actor, text=text, guard=guard)
        written = _WRITTEN[kind](
            reflection_id=reflection_id, author_id=actor, text=screened.text, created_at=now
        )
        session.add(written)
        session.flush()
        audit.record(
            session=session,
            actor=actor,
            action=kind,
            subject=f"reflection:{reflection_id}",
            now=now,
            detail={f"{kind}_id": written.id},
        )
        facts = {
            "case_ref": _case_ref(session, reflection),
            "practitioner_id": reflection.practitioner_id,
            "supervisor_id": actor,
        }
        say(
            f"{kind}_practitioner",
            session=session,
            key=f"{kind}:{written.id}:practitioner",
            recipient=reflection.practitioner_id,
            now=now,
            **{kind: screened.text},
            **facts,
        )
        say(
            f"{kind}_supervisor",
            session=session,
            key=f"{kind}:{written.id}:supervisor",
            recipient=actor,
            now=now,
            withheld=list(screened.withheld),
            warned=list(screened.warned),
            **facts,
        )
        return Outcome()


def show_answers(
    new_session: SessionFactory,
    *,
    reflection_id: int,
    actor: str,
    shown_under: str,
    now: datetime,
    renderer: Renderer,
) -> Outcome:
    """The answers of a summary, as a new DM to whoever pressed "Show the answers", if the
    access rule lets them see the reflection (the view is audited either way). Posted once per
    summary message (``shown_under`` names it), so a double click posts them once."""
    summary = view_summary(new_session, viewer_id=actor, reflection_id=reflection_id, now=now)
    if summary is None:
        return _REFUSALS["answers"]
    with transaction(new_session) as session:
        say(
            "answers",
            session=session,
            key=f"answers:{reflection_id}:{actor}:{shown_under}",
            recipient=actor,
            now=now,
            summary=summary,
            viewer=actor,
        )
    return Outcome()


def confirm_lead_contact(
    new_session: SessionFactory,
    *,
    reflection_id: int,
    actor: str,
    now: datetime,
    renderer: Renderer,
) -> Outcome:
    with transaction(new_session) as session:
        reflection = session.get(Reflection, reflection_id, with_for_update=True)
        if reflection is None or reflection.practitioner_id != actor:
            return _refused(
                session, action="lead_contact", actor=actor, reflection_id=reflection_id, now=now
            )
        already = not _record_first(
            session,
            reflection,
            "lead_contact_confirmed_at",
            action="lead_contact",
            actor=actor,
            now=now,
        )
        say(
            "lead_confirmed",
            session=session,
            key=f"lead:{reflection_id}:"
            + (f"again:{int(now.timestamp())}" if already else "first"),
            recipient=actor,
            now=now,
            already=already,
            confirmed_at=reflection.lead_contact_confirmed_at,
            case_ref=_case_ref(session, reflection),
        )
        return Outcome()


def home_data(*, session: Session, user_id: str, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """What the App Home shows this person: their own work, and their team's if they supervise."""
    today = local_day(now, zone)
    in_progress = [
        {"case_ref": case.ref, "status": r.status, "started_on": local_day(r.started_at, zone)}
        for r, case in reflection_queries.open_reflections_of(
            session=session, practitioner_id=user_id
        )
    ]
    cases = open_cases(session=session, practitioner_id=user_id, now=now, zone=zone)
    due_rows = session.exec(
        select(Action, Case)
        .join(Reflection, col(Reflection.id) == Action.reflection_id)
        .join(Case, col(Case.id) == Reflection.case_id)
        .where(
            Reflection.practitioner_id == user_id,
            Reflection.status == "completed",
            Action.status == "complete",
            col(Action.done_at).is_(None),
            col(Action.due_on).is_not(None),
            col(Case.closed_on).is_(None),
        )
        .order_by(col(Action.due_on))
        .limit(20)
    )
    actions_due = [
        {
            "case_ref": case.ref,
            "what": action.what or "",
            "due_on": action.due_on,
            "overdue": action.due_on is not None and action.due_on < today,
        }
        for action, case in due_rows
    ]
    awaiting_rows = session.exec(
        select(Reflection, Case)
        .join(Case, col(Case.id) == Reflection.case_id)
        .where(
            Reflection.supervisor_id == user_id,
            Reflection.status == "completed",
            col(Reflection.acknowledged_at).is_(None),
        )
        .order_by(col(Reflection.completed_at).desc())
        .limit(20)
    )
    awaiting = [
        {"practitioner_id": r.practitioner_id, "case_ref": case.ref, "completed_at": r.completed_at}
        for r, case in awaiting_rows
    ]
    return {
        "in_progress": in_progress,
        "cases": cases[:20],
        "actions_due": actions_due,
        "awaiting": awaiting,
    }
