"""Erasure, for the administrator: a case and everything about it, or what Reflect holds about
one person. The audit keeps one row with the counts, never what was erased."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import access
from bot.casework.records import refuse_administration
from bot.casework.results import NOT_AN_ID, case_subject, valid_case_ref
from storage import audit
from storage import cases as case_queries
from storage import retention as queries
from storage.db import SessionFactory, transaction

OUTBOX_PAGE = 500
_REF_CHARS = "A-Z0-9/_.-"


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
    the clock's records."""
    ref = valid_case_ref(case_ref)
    report = ErasureReport(subject=case_subject(ref))
    if not access.is_administrator(actor):
        raise refuse_administration(
            new_session, actor=actor, action="erase", subject=report.subject, now=now
        )
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
    if report.found and ref:
        report.add({"outbox": _erase_outbox(new_session, _mentions(ref), recipient=None)})
    _audit_erasure(new_session, actor=actor, report=report, now=now)
    return report


def erase_person(
    new_session: SessionFactory, *, actor: str, person_id: str | None, now: datetime
) -> ErasureReport:
    """Remove what Reflect holds about one person: their reflections (with answers, actions,
    notes and decisions), notes and decisions they wrote, messages to or about them, the clock's
    records for them, their cases once no reflection remains, and their ID where they were a
    supervisor or an action's owner. ``person_id`` is None when what was typed could not be a
    person's ID: nothing is about it, and it is never audited as typed.
    The organisation file is the administrator's own; remove them there and reload it."""
    person = (person_id or "").strip().upper()
    report = ErasureReport(subject=f"person:{person or NOT_AN_ID}")
    if not access.is_administrator(actor):
        raise refuse_administration(
            new_session, actor=actor, action="erase", subject=report.subject, now=now
        )
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
                    session=session, owner_person_id=person
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
    """Does a text mention this case reference or person's ID as a whole word?"""
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
