"""A practitioner's open cases, closing a case, and a case's history for those who may see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import access
from bot.casework.results import case_subject, local_day, valid_case_ref
from bot.reflection.case_refs import normalise_case_ref
from bot.reflection.messages import Said
from storage import audit
from storage import cases as case_queries
from storage import casework as queries
from storage import reflections as reflection_queries
from storage.statuses import ReflectionStatus

# The longest reference said back to someone who typed one that is not on record.
SAID_BACK = 40


@dataclass(frozen=True)
class CaseLine:
    ref: str
    days_open: int
    days_since_reflection: int | None
    in_progress: bool = False


def open_cases(
    *, session: Session, practitioner_id: str, now: datetime, zone: ZoneInfo
) -> list[CaseLine]:
    """A practitioner's own open cases: how long open, since the last reflection, and whether
    one is under way."""
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


def close_case(
    *, session: Session, case_ref: str, actor: str, now: datetime, zone: ZoneInfo
) -> Said:
    """Close a case, if the access rule lets ``actor``; open reflections on it are cancelled,
    so nobody is prompted about a closed case. Returns what to tell them."""
    ref = normalise_case_ref(case_ref)[:SAID_BACK]
    case = case_queries.get_case(session=session, ref=ref)
    if case is None:
        return Said("notices/close_refused", {"case_ref": ref, "found": False})
    if not access.can_close_case(session=session, actor=actor, case=case):
        return Said("notices/close_refused", {"case_ref": ref, "found": True, "already": False})
    if case.closed_on is not None:
        return Said("notices/close_refused", {"case_ref": ref, "found": True, "already": True})
    case.closed_on = local_day(now, zone)
    session.add(case)
    stopped = False
    for reflection in queries.open_reflections_of_case(session=session, case_id=case.id or 0):
        reflection.status = ReflectionStatus.CANCELLED
        reflection.updated_at = now
        session.add(reflection)
        stopped = True
    audit.record(session=session, actor=actor, action="close", subject=f"case:{ref}", now=now)
    return Said("notices/case_closed_done", {"case_ref": ref, "paused": stopped})


@dataclass
class History:
    allowed: bool
    case_ref: str
    summaries: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def case_history(
    *, session: Session, case_ref: str, viewer: str, now: datetime, limit: int, via: str
) -> History:
    """The newest ``limit`` summaries of a case the viewer may see, each view audited (``via``
    names the front end). A case that does not exist is refused exactly like one the viewer
    may not see."""
    ref = valid_case_ref(case_ref)
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
        return History(False, ref or normalise_case_ref(case_ref)[:SAID_BACK])
    visible = access.visible_reflections(session=session, viewer_id=viewer, case=case)
    if not access.can_see_case_history(
        session=session, viewer_id=viewer, case=case, visible=visible
    ):
        audit.record(
            session=session, actor=viewer, action="view_refused", subject=f"case:{ref}", now=now
        )
        return History(False, ref)
    with_summary = [r for r in visible if r.summary]
    for reflection in with_summary[:limit]:
        audit.record(
            session=session,
            actor=viewer,
            action="view",
            subject=f"reflection:{reflection.id}",
            now=now,
            detail={"via": via, "case_ref": ref},
        )
    return History(
        True, ref, [r.summary for r in with_summary[:limit] if r.summary], len(with_summary)
    )
