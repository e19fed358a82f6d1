"""The partnership report's queries: counts over the reflections' plain columns, grouped in SQL.

Nothing here reads an encrypted column, a case reference or a Slack message: only status, times,
the question a reflection stopped at, the repeat flag, the comma-separated rule and theme ids, the
0-10 scale, the minutes and the kind of each action. Every query returns one row per group, so
memory depends on the number of agencies, teams, months and categories, never on the number of
reflections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, text
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import Action, Agency, ClockPrompt, Person, Reflection, SafeguardingLead
from storage.statuses import OPEN_STATUSES, ActionStatus, ReflectionStatus

# The agency shown for reflections by someone no longer in the organisation file.
NO_AGENCY = ""
NO_TEAM = ""


@dataclass(frozen=True)
class Window:
    """Reflections started from ``start`` (inclusive) to ``end`` (exclusive), in UTC.

    ``quiet_before``: an open reflection untouched since before this counts as abandoned.
    ``months``: the calendar months the window spans, as (label, start, end) in UTC.
    """

    start: datetime
    end: datetime
    quiet_before: datetime
    months: tuple[tuple[str, datetime, datetime], ...]
    agency_id: str | None = None


def _agency() -> ColumnElement[str]:
    return func.coalesce(Person.agency_id, literal(NO_AGENCY))


def _team() -> ColumnElement[str]:
    return func.coalesce(Person.supervisor_id, literal(NO_TEAM))


def _where(window: Window) -> list[ColumnElement[bool]]:
    conditions = [
        col(Reflection.started_at) >= window.start,
        col(Reflection.started_at) < window.end,
    ]
    if window.agency_id is not None:
        conditions.append(col(Person.agency_id) == window.agency_id)
    return conditions


def _from(*columns: Any) -> Any:
    return (
        select(*columns)
        .select_from(Reflection)
        .outerjoin(Person, col(Person.person_id) == col(Reflection.practitioner_id))
    )


def _completed() -> ColumnElement[bool]:
    return col(Reflection.status) == ReflectionStatus.COMPLETED


def _abandoned(window: Window) -> ColumnElement[bool]:
    return or_(
        col(Reflection.status) == ReflectionStatus.CANCELLED,
        and_(
            col(Reflection.status).in_(OPEN_STATUSES),
            col(Reflection.updated_at) < window.quiet_before,
        ),
    )


def _outcome(window: Window) -> ColumnElement[str]:
    return case(
        (_completed(), literal(ReflectionStatus.COMPLETED.value)),
        (_abandoned(window), literal("abandoned")),
        else_=literal(ReflectionStatus.IN_PROGRESS.value),
    )


def _listed(column: Any, item: str) -> ColumnElement[bool]:
    """``item`` is one of the comma-separated ids in ``column`` (ids never contain commas)."""
    return (literal(",") + func.coalesce(column, literal("")) + literal(",")).contains(
        f",{item},", autoescape=True
    )


def _columns(count: int) -> list[Any]:
    """GROUP BY the first ``count`` columns by position: the same expression written twice
    carries its literals as separate parameters, which PostgreSQL will not match up."""
    return [text(str(position)) for position in range(1, count + 1)]


def _rows(session: Session, query: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(query)]


def outcomes(*, session: Session, window: Window) -> list[tuple[str, str, str, int]]:
    """(agency, team, outcome, count): completed, abandoned or still in progress."""
    outcome = _outcome(window)
    query = (
        _from(_agency(), _team(), outcome, func.count())
        .where(*_where(window))
        .group_by(*_columns(3))
    )
    return [(a, t, o, int(n)) for a, t, o, n in _rows(session, query)]


def abandoned_at(*, session: Session, window: Window) -> list[tuple[str, str, int]]:
    """(agency, question id or "", count) for abandoned reflections."""
    question = func.coalesce(Reflection.current_question, literal(""))
    query = (
        _from(_agency(), question, func.count())
        .where(*_where(window), _abandoned(window))
        .group_by(*_columns(2))
    )
    return [(a, q, int(n)) for a, q, n in _rows(session, query)]


def _month(window: Window) -> ColumnElement[str]:
    return case(
        *[
            (
                and_(col(Reflection.started_at) >= start, col(Reflection.started_at) < end),
                literal(label),
            )
            for label, start, end in window.months
        ],
        else_=literal(""),
    )


def by_month(*, session: Session, window: Window) -> list[tuple[str, str, int, int]]:
    """(agency, month label, started, completed)."""
    month = _month(window)
    completed = func.sum(case((_completed(), 1), else_=0))
    query = (
        _from(_agency(), month, func.count(), completed)
        .where(*_where(window))
        .group_by(*_columns(2))
    )
    return [(a, m, int(s), int(c or 0)) for a, m, s, c in _rows(session, query)]


def repeats(*, session: Session, window: Window) -> list[tuple[str, bool, int | None, int]]:
    """(agency, is a repeat, minutes, count) for completed reflections: the minutes histogram
    gives both the first/repeat counts and their medians, in one pass."""
    query = (
        _from(_agency(), Reflection.is_repeat, Reflection.minutes, func.count())
        .where(*_where(window), _completed())
        .group_by(*_columns(3))
    )
    return [(a, bool(r), m, int(n)) for a, r, m, n in _rows(session, query)]


def listed_counts(
    *, session: Session, window: Window, column: Any, ids: Sequence[str]
) -> list[tuple[str, str, int]]:
    """(agency, id, count): how many completed reflections list each id in ``column``."""
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _unnested_counts(session=session, window=window, column=column, ids=ids)
    sums = [func.sum(case((_listed(column, item), 1), else_=0)) for item in ids]
    query = _from(_agency(), *sums).where(*_where(window), _completed()).group_by(*_columns(1))
    found = []
    for agency, *values in _rows(session, query):
        found += [(agency, item, int(value or 0)) for item, value in zip(ids, values, strict=True)]
    return found


def _unnested_counts(
    *, session: Session, window: Window, column: Any, ids: Sequence[str]
) -> list[tuple[str, str, int]]:
    """PostgreSQL splits the list once per row and counts each id in one grouping, where the
    portable form tests every id against every row."""
    items = (
        _from(
            _agency().label("agency"),
            func.unnest(func.string_to_array(column, literal(","))).label("item"),
        )
        .where(*_where(window), _completed(), col(column).is_not(None))
        .subquery()
    )
    query = (
        select(items.c.agency, items.c.item, func.count())
        .where(items.c.item.in_(list(ids)))
        .group_by(*_columns(2))
    )
    return [(a, i, int(n)) for a, i, n in _rows(session, query)]


def themes_skipped(
    *, session: Session, window: Window, theme_ids: Sequence[str]
) -> list[tuple[str, str, int]]:
    return listed_counts(
        session=session, window=window, column=Reflection.themes_skipped, ids=theme_ids
    )


def rules_fired(
    *, session: Session, window: Window, rule_ids: Sequence[str]
) -> list[tuple[str, str, int]]:
    return listed_counts(
        session=session, window=window, column=Reflection.rules_fired, ids=rule_ids
    )


def any_listed(
    *, session: Session, window: Window, rule_ids: Sequence[str]
) -> list[tuple[str, int]]:
    """(agency, count) of completed reflections where any of ``rule_ids`` fired."""
    fired = or_(*[_listed(Reflection.rules_fired, r) for r in rule_ids])
    query = (
        _from(_agency(), func.count())
        .where(*_where(window), _completed(), fired)
        .group_by(*_columns(1))
    )
    return [(a, int(n)) for a, n in _rows(session, query)]


def flag_followed_by_action(
    *, session: Session, window: Window, rule_id: str, kind: str
) -> list[tuple[str, int]]:
    """(agency, count) of completed reflections where ``rule_id`` fired and whose case has an
    action of ``kind`` in that reflection's plan or a later completed one's, whenever that was."""
    later = aliased(Reflection)
    followed = exists().where(
        col(later.case_id) == col(Reflection.case_id),
        col(later.status) == ReflectionStatus.COMPLETED,
        or_(
            col(later.id) == col(Reflection.id),
            col(later.started_at) > col(Reflection.started_at),
        ),
        col(Action.reflection_id) == col(later.id),
        col(Action.status) == ActionStatus.COMPLETE,
        col(Action.kind) == kind,
    )
    query = (
        _from(_agency(), func.count())
        .where(*_where(window), _completed(), _listed(Reflection.rules_fired, rule_id), followed)
        .group_by(*_columns(1))
    )
    return [(a, int(n)) for a, n in _rows(session, query)]


def scales(*, session: Session, window: Window) -> list[tuple[str, int, int]]:
    """(agency, scale 0-10, count) for completed reflections that answered the scale."""
    query = (
        _from(_agency(), Reflection.scale, func.count())
        .where(*_where(window), _completed(), col(Reflection.scale).is_not(None))
        .group_by(*_columns(2))
    )
    return [(a, int(s), int(n)) for a, s, n in _rows(session, query)]


def scale_changes(*, session: Session, window: Window) -> list[tuple[str, str, int]]:
    """(agency, rose | same | fell, count): each completed repeat reflection's scale against the
    case's previous completed reflection that answered it."""
    ordered = (
        select(
            Reflection.practitioner_id,
            Reflection.started_at,
            Reflection.scale,
            func.lag(Reflection.scale)
            .over(
                partition_by=col(Reflection.case_id),
                order_by=(col(Reflection.started_at), col(Reflection.id)),
            )
            .label("before"),
        )
        .where(
            _completed(),
            col(Reflection.scale).is_not(None),
            col(Reflection.started_at) < window.end,
        )
        .subquery()
    )
    change = case(
        (ordered.c.scale > ordered.c.before, literal("rose")),
        (ordered.c.scale < ordered.c.before, literal("fell")),
        else_=literal("same"),
    )
    conditions = [ordered.c.started_at >= window.start, ordered.c.before.is_not(None)]
    if window.agency_id is not None:
        conditions.append(col(Person.agency_id) == window.agency_id)
    query = (
        select(_agency(), change, func.count())
        .select_from(ordered)
        .outerjoin(Person, col(Person.person_id) == ordered.c.practitioner_id)
        .where(*conditions)
        .group_by(*_columns(2))
    )
    return [(a, c, int(n)) for a, c, n in _rows(session, query)]


def agency_exists(*, session: Session, agency_id: str) -> bool:
    return session.get(Agency, agency_id) is not None


def agency_names(*, session: Session) -> dict[str, str]:
    return {a.id: a.name for a in session.exec(select(Agency))}


def recorded_keys(*, session: Session, job: str, prefix: str) -> set[str]:
    """The clock's recorded prompt keys for ``job`` that start with ``prefix``."""
    query = select(ClockPrompt.key).where(
        ClockPrompt.job == job, col(ClockPrompt.key).startswith(prefix, autoescape=True)
    )
    return set(session.exec(query))


def agencies_with_leads(*, session: Session) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(agency id, options, lead Slack IDs) for every agency, in id order."""
    leads: dict[str, list[str]] = {}
    for agency_id, person_id in session.exec(
        select(SafeguardingLead.agency_id, SafeguardingLead.person_id).order_by(
            col(SafeguardingLead.person_id)
        )
    ):
        leads.setdefault(agency_id, []).append(person_id)
    return [
        (a.id, dict(a.options or {}), leads.get(a.id, []))
        for a in session.exec(select(Agency).order_by(col(Agency.id)))
    ]
