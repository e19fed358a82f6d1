"""The administrator's work at the terminal: a case's whole history, and its export for the case
record. Each runs in its own transaction; someone the access rule refuses is audited, then
NotPermitted is raised."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import access
from bot.casework.results import NOT_AN_ID, NotPermitted, case_subject, valid_case_ref
from storage import audit
from storage import cases as case_queries
from storage import casework as queries
from storage import reflections as reflection_queries
from storage.db import SessionFactory, transaction
from storage.models import Reflection


def refuse_administration(
    new_session: SessionFactory, *, actor: str, action: str, subject: str, now: datetime
) -> NotPermitted:
    """Audit a refused export, erasure or history; returns the exception to raise."""
    with transaction(new_session) as session:
        audit.record(
            session=session, actor=actor, action=f"{action}_refused", subject=subject, now=now
        )
    return NotPermitted(action)


def _completed_reflections(session: Session, ref: str | None) -> list[Reflection]:
    """A case's completed reflections, newest first; none for an unknown or invalid reference."""
    case = case_queries.get_case(session=session, ref=ref) if ref else None
    if case is None or case.id is None:
        return []
    return reflection_queries.completed_reflections_for_case(session=session, case_id=case.id)


def administrator_history(
    new_session: SessionFactory, *, actor: str, case_ref: str, now: datetime
) -> list[dict[str, Any]]:
    """Every summary of a case, newest first (`reflect history`); audited like any other view."""
    ref = valid_case_ref(case_ref)
    if not access.is_administrator(actor):
        raise refuse_administration(
            new_session, actor=actor, action="view", subject=case_subject(ref), now=now
        )
    with transaction(new_session) as session:
        summaries = [r.summary for r in _completed_reflections(session, ref) if r.summary]
        audit.record(
            session=session,
            actor=actor,
            action="view",
            subject=case_subject(ref),
            now=now,
            detail={"shown": len(summaries)},
        )
    return summaries


@dataclass(frozen=True)
class Written:
    """A supervisor's note or decision, as the export shows it."""

    author_id: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class ExportedReflection:
    summary: dict[str, Any]
    notes: list[Written] = field(default_factory=list)
    decisions: list[Written] = field(default_factory=list)


@dataclass(frozen=True)
class CaseExport:
    """A case's summaries, with their notes and decisions, newest first, for the case record;
    prompts/export/case.md.j2 lays it out."""

    case_ref: str
    exported_at: datetime
    reflections: list[ExportedReflection]

    @property
    def summaries(self) -> int:
        return len(self.reflections)


def export_case(
    new_session: SessionFactory, *, actor: str, case_ref: str, now: datetime
) -> CaseExport:
    ref = valid_case_ref(case_ref)
    if not access.is_administrator(actor):
        raise refuse_administration(
            new_session, actor=actor, action="export", subject=case_subject(ref), now=now
        )
    with transaction(new_session) as session:
        reflections = [
            ExportedReflection(
                summary=r.summary,
                notes=[
                    Written(n.author_id, n.text, n.created_at)
                    for n in queries.notes_of(session=session, reflection_id=r.id or 0)
                ],
                decisions=[
                    Written(d.author_id, d.text, d.created_at)
                    for d in queries.decisions_of(session=session, reflection_id=r.id or 0)
                ],
            )
            for r in _completed_reflections(session, ref)
            if r.summary
        ]
        audit.record(
            session=session,
            actor=actor,
            action="export",
            subject=case_subject(ref),
            now=now,
            detail={"summaries": len(reflections)},
        )
    return CaseExport(case_ref=ref or NOT_AN_ID, exported_at=now, reflections=reflections)
