"""Audited access to reflective material: viewing, exporting, noting and erasing.

Every front end (Slack, the terminal, the administrator's CLI) goes through these functions, so
every view, export, note and deletion leaves an audit row, and the access rule in bot/access.py
is applied the same way whatever route a request takes. Audit rows hold who, what, which case or
reflection and counts; never answer text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.access import can_view_reflection
from bot.identity import is_person_id
from bot.protection.screening import screen_typed
from bot.reflection.messages import Guard, Screened
from bot.reflection.service import case_ref_problem, normalise_case_ref
from bot.render import Renderer
from storage import audit
from storage import cases as case_queries
from storage import reflections as reflection_queries
from storage import retention as queries
from storage.db import SessionFactory, transaction
from storage.models import Reflection, SupervisorDecision, SupervisorNote

OUTBOX_PAGE = 500
NOT_AN_ID = "(not a valid reference)"
_REF_CHARS = "A-Z0-9/_.-"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>#|]|(?<=\])\()")


def markdown_text(value: object) -> str:
    """Typed text made inert in Markdown: no headings, links, HTML or emphasis, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value)).replace("\r", " ").replace("\n", " ")


def local_time(value: datetime | str, zone: str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


@cache
def export_renderer() -> Renderer:
    render = Renderer("plain")
    render.env.filters["md"] = markdown_text
    render.env.filters["localtime"] = local_time
    return render


def valid_case_ref(case_ref: str) -> str | None:
    """The normalised reference, or None when it could not be one (so nothing typed in error,
    such as a name, is looked up or written to the audit trail)."""
    ref = normalise_case_ref(case_ref)
    return None if case_ref_problem(ref) else ref


def case_subject(ref: str | None) -> str:
    return f"case:{ref or NOT_AN_ID}"


# ------------------------------------------------------------------ viewing


def view_history(
    new_session: SessionFactory, *, viewer_id: str, case_ref: str, now: datetime
) -> list[dict[str, Any]]:
    """The summaries of a case this viewer may see, newest first; the view is audited."""
    ref = valid_case_ref(case_ref)
    with transaction(new_session) as session:
        reflections = _completed_reflections(session, ref)
        visible = [
            r
            for r in reflections
            if r.summary and can_view_reflection(session=session, viewer_id=viewer_id, reflection=r)
        ]
        audit.record(
            session=session,
            actor=viewer_id,
            action="view" if visible or not reflections else "view_refused",
            subject=case_subject(ref),
            now=now,
            detail={"shown": len(visible), "not_allowed": len(reflections) - len(visible)},
        )
        return [r.summary for r in visible if r.summary]


def view_summary(
    new_session: SessionFactory, *, viewer_id: str, reflection_id: int, now: datetime
) -> dict[str, Any] | None:
    """One summary, or None when it does not exist or this viewer may not see it (a forged
    button value looks exactly like a missing reflection). Both outcomes are audited."""
    with transaction(new_session) as session:
        reflection = reflection_queries.get_reflection(session=session, reflection_id=reflection_id)
        allowed = (
            reflection is not None
            and reflection.summary is not None
            and can_view_reflection(session=session, viewer_id=viewer_id, reflection=reflection)
        )
        audit.record(
            session=session,
            actor=viewer_id,
            action="view" if allowed else "view_refused",
            subject=f"reflection:{reflection_id}",
            now=now,
        )
        return reflection.summary if allowed and reflection is not None else None


# ------------------------------------------------------------------ notes


@dataclass(frozen=True)
class NoteResult:
    saved: bool
    screened: Screened | None = None


def add_note(
    new_session: SessionFactory,
    *,
    author_id: str,
    reflection_id: int,
    text: str,
    now: datetime,
    guard: Guard | None = None,
) -> NoteResult:
    """A supervisor's (or permitted lead's) note on a summary, screened for identifiers.

    The practitioner cannot note their own reflection, and nobody outside the access rule can;
    refusals are audited too.
    """
    with transaction(new_session) as session:
        reflection = reflection_queries.get_reflection(session=session, reflection_id=reflection_id)
        allowed = (
            reflection is not None
            and reflection.status == "completed"
            and author_id != reflection.practitioner_id
            and can_view_reflection(session=session, viewer_id=author_id, reflection=reflection)
        )
        subject = f"reflection:{reflection_id}"
        if not allowed or not text.strip():
            audit.record(
                session=session, actor=author_id, action="note_refused", subject=subject, now=now
            )
            return NoteResult(saved=False)
        screened = screen_typed(session, author_id=author_id, text=text.strip(), guard=guard)
        session.add(
            SupervisorNote(
                reflection_id=reflection_id, author_id=author_id, text=screened.text, created_at=now
            )
        )
        audit.record(session=session, actor=author_id, action="note", subject=subject, now=now)
        return NoteResult(saved=True, screened=screened)


# ------------------------------------------------------------------ export


@dataclass(frozen=True)
class Export:
    case_ref: str
    markdown: str
    summaries: int


def export_case(
    new_session: SessionFactory,
    *,
    actor: str,
    case_ref: str,
    now: datetime,
    timezone: str = "Europe/London",
    render: Renderer | None = None,
) -> Export:
    """The case's summaries as Markdown for the case record (an administrator's export)."""
    ref = valid_case_ref(case_ref)
    with transaction(new_session) as session:
        reflections = _completed_reflections(session, ref)
        summaries = [r.summary for r in reflections if r.summary]
        notes = {
            r.id: [
                {"author_id": n.author_id, "text": n.text, "created_at": n.created_at}
                for n in _notes_of(session, r.id or 0)
            ]
            for r in reflections
        }
        decisions = {
            r.id: [
                {"author_id": d.author_id, "text": d.text, "created_at": d.created_at}
                for d in _decisions_of(session, r.id or 0)
            ]
            for r in reflections
        }
        markdown = (render or export_renderer()).render(
            "export/case.md.j2",
            case_ref=ref or NOT_AN_ID,
            exported_at=now,
            timezone=timezone,
            reflections=[
                {
                    "summary": r.summary,
                    "notes": notes.get(r.id, []),
                    "decisions": decisions.get(r.id, []),
                }
                for r in reflections
                if r.summary
            ],
        )
        audit.record(
            session=session,
            actor=actor,
            action="export",
            subject=case_subject(ref),
            now=now,
            detail={"summaries": len(summaries)},
        )
    return Export(case_ref=ref or NOT_AN_ID, markdown=markdown + "\n", summaries=len(summaries))


def _completed_reflections(session: Session, ref: str | None) -> list[Reflection]:
    """A case's completed reflections, newest first; none for an unknown or invalid reference."""
    case = case_queries.get_case(session=session, ref=ref) if ref else None
    if case is None or case.id is None:
        return []
    return reflection_queries.completed_reflections_for_case(session=session, case_id=case.id)


def _notes_of(session: Session, reflection_id: int) -> list[SupervisorNote]:
    return list(
        session.exec(
            select(SupervisorNote)
            .where(SupervisorNote.reflection_id == reflection_id)
            .order_by(col(SupervisorNote.created_at))
        )
    )


def _decisions_of(session: Session, reflection_id: int) -> list[SupervisorDecision]:
    return list(
        session.exec(
            select(SupervisorDecision)
            .where(SupervisorDecision.reflection_id == reflection_id)
            .order_by(col(SupervisorDecision.created_at))
        )
    )


# ------------------------------------------------------------------ erasure


@dataclass
class ErasureReport:
    subject: str
    found: bool = True
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for name, count in counts.items():
            self.counts[name] = self.counts.get(name, 0) + count


def erase_case(
    new_session: SessionFactory, *, actor: str, case_ref: str, now: datetime
) -> ErasureReport:
    """Remove a case and everything about it: reflections, answers, actions, notes, decisions,
    what is waiting in the inbox about it, messages waiting to be sent or kept after sending, and
    the clock's records. The audit keeps one row with the counts."""
    ref = valid_case_ref(case_ref)
    report = ErasureReport(subject=case_subject(ref))
    with transaction(new_session) as session:
        if ref:  # a /reflect or an answer naming the case, not yet handled: it would bring it back
            mentioned = _mentions(ref)
            waiting = [
                i.id
                for i in queries.inbox_items(session=session)
                if i.id is not None and mentioned(json.dumps(i.payload, ensure_ascii=False))
            ]
            if waiting:
                report.add({"inbox": queries.delete_inbox_items(session=session, ids=waiting)})
        case = case_queries.get_case(session=session, ref=ref) if ref else None
        if ref is None or case is None or case.id is None:
            report.found = bool(report.counts.get("inbox"))
        else:
            ids = queries.reflection_ids_for_case(session=session, case_id=case.id)
            report.add(queries.delete_reflections(session=session, ids=ids))
            mentions = _mentions(ref)
            prompts = [
                p.id
                for p in queries.clock_prompts_mentioning(session=session, text=ref)
                if p.id is not None and mentions(p.key)
            ]
            report.add(
                {"clock_prompts": queries.delete_clock_prompts(session=session, ids=prompts)}
            )
            report.add({"cases": queries.delete_case(session=session, case_id=case.id)})
    if report.found and ref is not None:  # found: the case, or the inbox, named it
        report.add({"outbox": _erase_outbox(new_session, _mentions(ref), recipient=None)})
    _audit_erasure(new_session, actor=actor, report=report, now=now)
    return report


def erase_person(
    new_session: SessionFactory, *, actor: str, slack_id: str, now: datetime
) -> ErasureReport:
    """Remove what Reflect holds about one person: their reflections (with answers, actions,
    notes and decisions), notes and decisions they wrote, messages to or about them, the clock's
    records for them, their cases once no reflection remains, and their ID where they were a
    supervisor or an action's owner.
    The organisation file is the administrator's own; remove them there and reload it."""
    person = slack_id.strip().upper()
    if not is_person_id(person):
        person = ""  # not a Slack user ID, so nothing can be about it; never audit typed text
    report = ErasureReport(subject=f"person:{person or NOT_AN_ID}")
    if not person:
        report.found = False
        _audit_erasure(new_session, actor=actor, report=report, now=now)
        return report
    with transaction(new_session) as session:
        ids = queries.reflection_ids_of_practitioner(session=session, practitioner_id=person)
        report.add(queries.delete_reflections(session=session, ids=ids))
        report.add(
            {
                "notes_written": queries.delete_notes_by(session=session, author_id=person),
                "decisions_written": queries.delete_decisions_by(session=session, author_id=person),
                "inbox": queries.delete_inbox_items_of(session=session, user_id=person),
                "clock_prompts": queries.delete_clock_prompts_to(
                    session=session, recipient_id=person
                ),
                "supervisor_links": queries.forget_supervisor(
                    session=session, supervisor_id=person
                ),
                "action_owner_links": queries.forget_action_owner(
                    session=session, owner_slack_id=person
                ),
                "cases": queries.delete_cases_of_without_reflections(
                    session=session, practitioner_id=person
                ),
            }
        )
    report.add({"outbox": _erase_outbox(new_session, _mentions(person), recipient=person)})
    report.found = any(report.counts.values())
    _audit_erasure(new_session, actor=actor, report=report, now=now)
    return report


def _audit_erasure(
    new_session: SessionFactory, *, actor: str, report: ErasureReport, now: datetime
) -> None:
    with transaction(new_session) as session:
        audit.record(
            session=session,
            actor=actor,
            action="erase",
            subject=report.subject,
            now=now,
            detail={"found": report.found, **report.counts},
        )


def _mentions(token: str) -> Callable[[str], bool]:
    """Does a text mention this case reference or Slack ID as a whole word?"""
    pattern = re.compile(
        rf"(?<![{_REF_CHARS}]){re.escape(token)}(?![A-Z0-9/_-]|\.[A-Z0-9])", re.IGNORECASE
    )
    return lambda text: bool(pattern.search(text or ""))


def _erase_outbox(
    new_session: SessionFactory, mentions: Callable[[str], bool], *, recipient: str | None
) -> int:
    """Outbox payloads are encrypted, so they are read page by page and matched here."""
    deleted = 0
    after = 0
    while True:
        with transaction(new_session) as session:
            rows = queries.outbox_rows_after(session=session, after_id=after, limit=OUTBOX_PAGE)
            if not rows:
                return deleted
            after = max(r.id or 0 for r in rows)
            doomed = [
                r.id
                for r in rows
                if r.id is not None
                and (
                    r.recipient == recipient
                    or mentions(r.dedupe_key)
                    or mentions(json.dumps(r.payload, ensure_ascii=False))
                )
            ]
            deleted += queries.delete_outbox_rows(session=session, ids=doomed)


def administrator_history(
    new_session: SessionFactory, *, actor: str, case_ref: str, now: datetime
) -> list[dict[str, Any]]:
    """Every summary of a case, for the administrator at the terminal (`reflect history`);
    audited like any other view."""
    ref = valid_case_ref(case_ref)
    with transaction(new_session) as session:
        case = case_queries.get_case(session=session, ref=ref) if ref else None
        summaries = (
            [
                r.summary
                for r in reflection_queries.completed_reflections_for_case(
                    session=session, case_id=case.id
                )
                if r.summary
            ]
            if case is not None and case.id is not None
            else []
        )
        audit.record(
            session=session,
            actor=actor,
            action="view",
            subject=case_subject(ref),
            now=now,
            detail={"shown": len(summaries)},
        )
    return summaries
