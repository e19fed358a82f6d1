"""Making a report: the queries in one read-only session, the counts laid out and suppressed,
and the run audited (who, which period, which agency, which format: never a count or a case)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import access
from bot.reflection.questions import ESCALATION, QuestionSet, default_question_set
from bot.report.counts import DISAGREEMENT_RULE, DRIFT_PREFIX, Labels, Report, Rows, build
from bot.report.formats import Short, short
from bot.report.period import Period
from storage import audit
from storage import report as queries
from storage.db import SessionFactory, transaction

AUDIT_ACTION = "report"


class UnknownAgency(ValueError):
    """The agency asked for is not in the organisation file."""


def labels_for(session: Session, questions: QuestionSet, agency_id: str | None) -> Labels:
    names = queries.agency_names(session=session)
    if agency_id is not None:
        if agency_id not in names:
            raise UnknownAgency(agency_id)
        names = {agency_id: names[agency_id]}
    return Labels(
        agencies=dict(sorted(names.items())),
        themes={t.id: t.title for t in questions.themes},
        rules={r.id: r.title for r in questions.rules if r.flag and r.title},
        questions={q.id: q.label for q in questions.questions.values()},
    )


def make_report(
    new_session: SessionFactory,
    *,
    period: Period,
    zone: ZoneInfo,
    now: datetime,
    threshold: int,
    agency_id: str | None = None,
    questions: QuestionSet | None = None,
) -> Report:
    """The report for ``period`` (raises UnknownAgency for an agency not in the organisation)."""
    questions = questions or default_question_set()
    window = period.window(zone, now=now, agency_id=agency_id)
    with new_session() as session:
        labels = labels_for(session, questions, agency_id)
        rule_ids = list(labels.rules)
        drift_rules = [r for r in rule_ids if r.startswith(DRIFT_PREFIX)]
        rows = Rows(
            outcomes=queries.outcomes(session=session, window=window),
            abandoned_at=queries.abandoned_at(session=session, window=window),
            by_month=queries.by_month(session=session, window=window),
            repeats=queries.repeats(session=session, window=window),
            themes_skipped=queries.themes_skipped(
                session=session, window=window, theme_ids=list(labels.themes)
            ),
            rules_fired=queries.rules_fired(session=session, window=window, rule_ids=rule_ids),
            drift=queries.any_listed(session=session, window=window, rule_ids=drift_rules)
            if drift_rules
            else (),
            disagreement_escalated=queries.flag_followed_by_action(
                session=session, window=window, rule_id=DISAGREEMENT_RULE, kind=ESCALATION
            ),
            scales=queries.scales(session=session, window=window),
            scale_changes=queries.scale_changes(session=session, window=window),
        )
    if agency_id is None and any(row[0] == queries.NO_AGENCY for row in rows.outcomes):
        # Reflections by people since taken out of the organisation file still count, apart.
        labels.agencies[queries.NO_AGENCY] = ""
    return build(rows, period=period, labels=labels, threshold=threshold, agency_id=agency_id)


def last_month_for(
    new_session: SessionFactory,
    *,
    viewer: str,
    zone: ZoneInfo,
    now: datetime,
    threshold: int,
    form: str,
) -> Short | None:
    """The short version of last month's report for ``viewer``, audited; None for anyone the
    access rule does not let see it (administrators see every agency, a lead their own)."""
    with new_session() as session:
        scope = access.partnership_report_scope(session=session, viewer_id=viewer)
    if scope is None:
        return None
    period = Period.last_full_month(now.astimezone(zone).date())
    report = make_report(
        new_session,
        period=period,
        zone=zone,
        now=now,
        threshold=threshold,
        agency_id=scope.agency_id,
    )
    record_run(
        new_session, actor=viewer, period=period, agency_id=scope.agency_id, form=form, now=now
    )
    return short(report)


def record_run(
    new_session: SessionFactory,
    *,
    actor: str,
    period: Period,
    agency_id: str | None,
    form: str,
    now: datetime,
) -> None:
    """Every run is audited: CLI, Slack and the clock's monthly send."""
    with transaction(new_session) as session:
        audit_run(session, actor=actor, period=period, agency_id=agency_id, form=form, now=now)


def audit_run(
    session: Session,
    *,
    actor: str,
    period: Period,
    agency_id: str | None,
    form: str,
    now: datetime,
) -> None:
    """The audit row for a run, in the caller's transaction: who, which period, which agency,
    which format."""
    audit.record(
        session=session,
        actor=actor,
        action=AUDIT_ACTION,
        subject=f"report:{agency_id or 'all'}",
        now=now,
        detail={
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "format": form,
        },
    )
