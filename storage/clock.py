"""The clock's queries: set-based searches for what is due, paged by id, and its records.

Each search filters on indexed columns and anti-joins the prompts already recorded, so a run over
a million open cases reads only the rows that are due.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, or_, true, union
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from storage.models import Action, Agency, Case, ClockPrompt, Person, Reflection
from storage.statuses import OPEN_STATUSES, ActionStatus, ReflectionStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Search(Generic[T]):
    """A search for what is due. ``ids`` finds the due rows' ids in one set-based query (the
    planner is free to start from the narrowest index); ``rows`` loads a page of them, checking
    every condition again, so a row that stopped being due meanwhile is left out."""

    statement: Select[*tuple[Any, ...]]
    id_column: Any
    make: Callable[[Any], T]

    def ids(self, session: Session) -> list[int]:
        query = self.statement.with_only_columns(self.id_column).order_by(self.id_column)
        return [int(i) for i in session.execute(query).scalars()]

    def rows(self, session: Session, ids: Sequence[int]) -> list[T]:
        query = self.statement.where(self.id_column.in_(list(ids))).order_by(self.id_column)
        return [self.make(row) for row in session.execute(query)]


@dataclass(frozen=True)
class AgencyScope:
    """Whose cases a search covers: the practitioners of some agencies, or everyone else."""

    agency_ids: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def condition(self, practitioner: Any) -> ColumnElement[bool]:
        person_agency = (
            select(Person.agency_id).where(Person.person_id == practitioner).scalar_subquery()
        )
        if self.agency_ids:
            return person_agency.in_(self.agency_ids)
        if not self.excluded:
            return true()
        return or_(person_agency.is_(None), ~person_agency.in_(self.excluded))


EVERYONE = AgencyScope()


def agency_clock_options(*, session: Session) -> dict[str, dict[str, Any]]:
    """Each agency's ``clock:`` overrides from the organisation file (agencies without any left
    out)."""
    rows = session.exec(select(Agency.id, Agency.options))
    return {
        agency_id: dict(options["clock"])
        for agency_id, options in rows
        if isinstance(options, dict) and isinstance(options.get("clock"), dict) and options["clock"]
    }


def _not_prompted(job: str, subject: Any, since: datetime | None = None) -> ColumnElement[bool]:
    conditions = [col(ClockPrompt.job) == job, col(ClockPrompt.subject_id) == subject]
    if since is not None:
        conditions.append(col(ClockPrompt.decided_at) > since)
    return ~exists().where(and_(*conditions))


def _no_recent_reflection(since: datetime) -> ColumnElement[bool]:
    return ~exists().where(
        and_(
            col(Reflection.case_id) == col(Case.id),
            col(Reflection.status) == ReflectionStatus.COMPLETED,
            col(Reflection.completed_at) >= since,
        )
    )


# ------------------------------------------------------------------ long-open cases


@dataclass(frozen=True)
class LongOpenCase:
    case_id: int
    ref: str
    practitioner_id: str
    opened_on: date


def long_open_cases(
    *,
    opened_before: date,
    quiet_since: datetime,
    scope: AgencyScope = EVERYONE,
) -> Search[LongOpenCase]:
    """Open cases opened on or before ``opened_before`` with no completed reflection and no
    long-open prompt since ``quiet_since``."""
    statement = select(Case.id, Case.ref, Case.practitioner_id, col(Case.opened_on)).where(
        col(Case.closed_on).is_(None),
        col(Case.opened_on) <= opened_before,
        _no_recent_reflection(quiet_since),
        _not_prompted("long_open", col(Case.id), quiet_since),
        scope.condition(col(Case.practitioner_id)),
    )
    return Search(statement, col(Case.id), lambda r: LongOpenCase(int(r[0]), r[1], r[2], r[3]))


def count_long_open_cases(
    *, session: Session, practitioner_ids: Sequence[str], opened_before: date, quiet_since: datetime
) -> tuple[int, list[str]]:
    """How many of these practitioners' cases are long open without recent reflection, and the
    first twenty references."""
    where = (
        col(Case.closed_on).is_(None),
        col(Case.opened_on) <= opened_before,
        col(Case.practitioner_id).in_(list(practitioner_ids)),
        _no_recent_reflection(quiet_since),
    )
    total = session.exec(select(func.count()).select_from(Case).where(*where)).one()
    refs = session.exec(
        select(Case.ref).where(*where).order_by(col(Case.opened_on), col(Case.ref)).limit(20)
    )
    return int(total), list(refs)


# ------------------------------------------------------------------ reflections


@dataclass(frozen=True)
class ReflectionDue:
    reflection_id: int
    practitioner_id: str
    case_ref: str
    status: str
    at: datetime  # updated_at for unfinished, completed_at for lead follow-ups


def unfinished_reflections(
    *, untouched_since: datetime, scope: AgencyScope = EVERYONE
) -> Search[ReflectionDue]:
    """Reflections in progress or paused, not touched since ``untouched_since``, never nudged."""
    statement = (
        sa.select(
            col(Reflection.id),
            col(Reflection.practitioner_id),
            col(Case.ref),
            col(Reflection.status),
            col(Reflection.updated_at),
        )
        .join(Case, col(Case.id) == col(Reflection.case_id))
        .where(
            col(Reflection.status).in_(OPEN_STATUSES),
            col(Reflection.updated_at) <= untouched_since,
            col(Case.closed_on).is_(None),
            _not_prompted("unfinished", col(Reflection.id)),
            scope.condition(col(Reflection.practitioner_id)),
        )
    )
    return Search(statement, col(Reflection.id), _reflection_due)


def _reflection_due(row: Any) -> ReflectionDue:
    return ReflectionDue(int(row[0]), row[1], row[2], row[3], row[4])


def unconfirmed_lead_contacts(
    *, completed_before: datetime, scope: AgencyScope = EVERYONE
) -> Search[ReflectionDue]:
    """Completed reflections (before ``completed_before``) whose safeguarding-lead contact is
    not confirmed and that have had no follow-up."""
    statement = (
        sa.select(
            col(Reflection.id),
            col(Reflection.practitioner_id),
            col(Case.ref),
            col(Reflection.status),
            col(Reflection.completed_at),
        )
        .join(Case, col(Case.id) == col(Reflection.case_id))
        .where(
            col(Reflection.status) == ReflectionStatus.COMPLETED,
            col(Reflection.lead_contact_confirmed_at).is_(None),
            col(Reflection.completed_at) <= completed_before,
            col(Case.closed_on).is_(None),
            _not_prompted("lead_followup", col(Reflection.id)),
            scope.condition(col(Reflection.practitioner_id)),
        )
    )
    return Search(statement, col(Reflection.id), _reflection_due)


# ------------------------------------------------------------------ actions


@dataclass(frozen=True)
class ActionDue:
    action_id: int
    due_on: date
    what: str | None
    owner_person_id: str | None
    practitioner_id: str
    case_ref: str


def _live_action() -> tuple[ColumnElement[bool], ...]:
    return (
        col(Action.status) == ActionStatus.COMPLETE,
        col(Action.done_at).is_(None),
        col(Reflection.status) == ReflectionStatus.COMPLETED,
        col(Case.closed_on).is_(None),
    )


def actions_due_between(*, first: date, last: date) -> Search[ActionDue]:
    """Agreed, undone actions due from ``first`` to ``last`` that have had no reminder."""
    statement = (
        sa.select(
            col(Action.id),
            col(Action.due_on),
            col(Action.what),
            col(Action.owner_person_id),
            col(Reflection.practitioner_id),
            col(Case.ref),
        )
        .join(Reflection, col(Reflection.id) == col(Action.reflection_id))
        .join(Case, col(Case.id) == col(Reflection.case_id))
        .where(
            col(Action.due_on) >= first,
            col(Action.due_on) <= last,
            *_live_action(),
            _not_prompted("action_due", col(Action.id)),
        )
    )
    return Search(
        statement,
        col(Action.id),
        lambda r: ActionDue(int(r[0]), r[1], r[2], r[3], r[4], r[5]),
    )


def overdue_actions_for(
    *, session: Session, supervisor_id: str, today: date, limit: int = 20
) -> tuple[int, list[tuple[str, date]]]:
    """Undone actions past their due date on summaries this supervisor received."""
    where = (
        col(Action.due_on) < today,
        col(Reflection.supervisor_id) == supervisor_id,
        *_live_action(),
    )
    base = (
        select(Case.ref, col(Action.due_on))
        .join(Reflection, col(Reflection.id) == col(Action.reflection_id))
        .join(Case, col(Case.id) == col(Reflection.case_id))
        .where(*where)
    )
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(base.order_by(col(Action.due_on), col(Case.ref)).limit(limit))
    return int(total), [(r, d) for r, d in rows if d is not None]


# ------------------------------------------------------------------ supervisors' digest


def supervisors_without_digest(*, session: Session, week: str) -> list[str]:
    """Everyone who supervises someone or has a summary to acknowledge, without this week's
    digest decided yet."""
    supervisors = union(
        select(col(Person.supervisor_id).label("sid")).where(
            col(Person.supervisor_id).is_not(None)
        ),
        select(col(Reflection.supervisor_id).label("sid")).where(
            col(Reflection.supervisor_id).is_not(None),
            Reflection.status == ReflectionStatus.COMPLETED,
            col(Reflection.acknowledged_at).is_(None),
        ),
    ).subquery()
    sid = supervisors.c.sid
    decided = exists().where(
        col(ClockPrompt.job) == "digest",
        col(ClockPrompt.key) == literal("digest:") + sid + literal(f":{week}"),
    )
    rows = session.exec(select(sid).where(~decided).order_by(sid))
    return [str(r) for r in rows]


def awaiting_acknowledgement(
    *, session: Session, supervisor_id: str, limit: int = 20
) -> tuple[int, list[tuple[str, datetime]]]:
    where = (
        Reflection.supervisor_id == supervisor_id,
        Reflection.status == ReflectionStatus.COMPLETED,
        col(Reflection.acknowledged_at).is_(None),
    )
    total = session.exec(select(func.count()).select_from(Reflection).where(*where)).one()
    rows = session.exec(
        select(Case.ref, Reflection.completed_at)
        .join(Case, col(Case.id) == col(Reflection.case_id))
        .where(*where)
        .order_by(col(Reflection.completed_at), col(Reflection.id))
        .limit(limit)
    )
    return int(total), [(ref, at) for ref, at in rows if at is not None]  # completed: it is set


# Which fired rules the digest names a case for, read from Reflection.rules_fired (rule ids,
# never free text): drift across reflections, and disagreement or escalation between agencies.
def flag_kinds(rules_fired: str | None) -> set[str]:
    """``drift`` and/or ``escalation`` for a reflection's comma-separated fired rule ids."""
    kinds = set()
    for rule in (r.strip() for r in (rules_fired or "").split(",")):
        if rule.startswith("drift_"):
            kinds.add("drift")
        elif rule == "disagreement_not_escalated" or rule.startswith("escalat"):
            kinds.add("escalation")
    return kinds


def flagged_cases(
    *, session: Session, supervisor_id: str, since: datetime, limit: int = 20
) -> tuple[int, list[tuple[str, list[str]]]]:
    """The supervisor's cases with a reflection completed since ``since`` whose drift or
    escalation rules fired: how many, and the first ``limit`` as (case ref, kinds), by ref.
    Read from the plain columns only; nothing is decrypted."""
    rows = session.exec(
        select(Case.ref, Reflection.rules_fired)
        .join(Case, col(Case.id) == col(Reflection.case_id))
        .where(
            Reflection.supervisor_id == supervisor_id,
            Reflection.status == ReflectionStatus.COMPLETED,
            col(Reflection.completed_at) >= since,
            or_(
                col(Reflection.rules_fired).contains("drift"),
                col(Reflection.rules_fired).contains("escalat"),
            ),
        )
    )
    by_case: dict[str, set[str]] = {}
    for ref, fired in rows:
        kinds = flag_kinds(fired)
        if kinds:
            by_case.setdefault(ref, set()).update(kinds)
    refs = sorted(by_case)
    return len(refs), [(ref, sorted(by_case[ref])) for ref in refs[:limit]]


def team_of(*, session: Session, supervisor_id: str) -> tuple[list[str], str | None]:
    """The supervisor's supervisees and the supervisor's own agency."""
    team = list(session.exec(select(Person.person_id).where(Person.supervisor_id == supervisor_id)))
    agency = session.exec(select(Person.agency_id).where(Person.person_id == supervisor_id)).first()
    return team, agency


# ------------------------------------------------------------------ records


def record_prompts(
    *, session: Session, prompts: Sequence[tuple[str, str, int | None, str]], now: datetime
) -> None:
    """Record decided prompts, given as (job, key, subject_id, recipient_id), in one statement;
    the unique (job, key) refuses any recorded before (IntegrityError)."""
    if not prompts:
        return
    session.execute(
        insert(ClockPrompt),
        [
            {
                "job": job,
                "key": key,
                "subject_id": subject,
                "recipient_id": recipient,
                "decided_at": now,
            }
            for job, key, subject, recipient in prompts
        ],
    )


def prompts(*, session: Session, job: str | None = None) -> list[ClockPrompt]:
    query = select(ClockPrompt).order_by(col(ClockPrompt.id))
    if job is not None:
        query = query.where(ClockPrompt.job == job)
    return list(session.exec(query))
