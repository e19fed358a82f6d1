"""The clock's jobs: plain functions that decide what is due as of ``context.now``.

Each prompt is recorded (a clock_prompt row, unique per job and key) and its message recorded in
the outbox (bot/messaging/outbox.py, under the same key) in one transaction, a batch at a time.
A rerun, a crash part-way or a second clock therefore neither loses nor repeats a prompt: what
was committed is skipped next time, what was not is decided again. Outside working hours a
prompt is still decided and recorded, and waits in the outbox for the next working slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.clock import messages, monthly
from bot.clock.context import ClockContext, Prompt, TickReport, record
from bot.config.clock import Thresholds
from bot.identity import DirectoryUnavailable, is_person_id
from bot.retention import purge_expired
from storage import clock as queries
from storage import organisation as org_queries
from storage.db import transaction

log = logging.getLogger(__name__)

# An action due this many days ahead may need its reminder today (a weekend or bank holidays
# before it move the reminder to the last working day).
ACTION_LOOKAHEAD_DAYS = 10


def _decide_pages(
    context: ClockContext,
    job: str,
    search: queries.Search[Any],
    decide: Callable[[Session, Any], list[Prompt]],
    prepare: Callable[[list[Any]], None] | None = None,
) -> int:
    """Find what is due in one query, then decide it a page at a time: each page's prompts are
    committed together. ``prepare`` sees each page first, outside any transaction, for calls
    to the directory (SQLite's write lock is never held across the network)."""
    with context.new_session() as session:
        ids = search.ids(session)
    size = context.config.batch_size
    pages = [ids[i : i + size] for i in range(0, len(ids), size)]
    return _commit_pages(
        context, job, pages, lambda session, page: search.rows(session, page), decide, prepare
    )


def _commit_pages(
    context: ClockContext,
    job: str,
    pages: Iterable[Any],
    load: Callable[[Session, Any], list[Any]],
    decide: Callable[[Session, Any], list[Prompt]],
    prepare: Callable[[list[Any]], None] | None = None,
) -> int:
    decided = 0
    for page in pages:
        if prepare is not None:
            with context.new_session() as session:
                rows = load(session, page)
            prepare(rows)
        try:
            with transaction(context.new_session) as session:
                prompts = [p for row in load(session, page) for p in decide(session, row)]
                record(context, session, prompts)
            decided += len(prompts)
        except IntegrityError:
            # Another clock recorded one of these first (only possible without the lock); this
            # page is rolled back whole and the next run decides what is still missing.
            log.warning("%s: a prompt was already recorded by another run; skipping a page", job)
    return decided


def _scopes(context: ClockContext) -> Iterator[tuple[queries.AgencyScope, Thresholds]]:
    """One search per distinct set of thresholds: each overriding agency, then everyone else."""
    with context.new_session() as session:
        overrides = queries.agency_clock_options(session=session)
    for agency_id, options in sorted(overrides.items()):
        yield (
            queries.AgencyScope(agency_ids=(agency_id,)),
            context.config.thresholds.merged(options),
        )
    yield queries.AgencyScope(excluded=tuple(sorted(overrides))), context.config.thresholds


# ------------------------------------------------------------------ practitioners


def resolve_practitioner(context: ClockContext, practitioner: str, case_id: int) -> str | None:
    """A person ID for a case's practitioner, looking e-mail addresses up in the directory.

    None means "not now": the case is left undecided and tried again on a later run. Log lines
    name the case by id only.
    """
    if is_person_id(practitioner):
        return practitioner
    if "@" not in practitioner:
        log.warning("case id %s: practitioner is neither a person ID nor an e-mail", case_id)
        return None
    if practitioner in context._emails:
        return context._emails[practitioner]
    found: str | None = None
    if context.directory is None:
        log.warning(
            "case id %s: practitioner given by e-mail and no directory to look it up in "
            "(SLACK_BOT_TOKEN); will try again on a later run",
            case_id,
        )
    elif context.directory_resting:
        log.debug("case id %s: the directory is resting for this run; next run", case_id)
        return None
    else:
        try:
            found = context.directory.person_for_email(practitioner)
        except DirectoryUnavailable as exc:
            context.directory_resting = exc.rate_limited
            log.warning(
                "case id %s: the practitioner's e-mail could not be looked up (%s); "
                "will try again on a later run",
                case_id,
                exc.reason,
            )
            if exc.rate_limited:
                return None
        else:
            if found is None:
                log.warning(
                    "case id %s: no one in the workspace has the practitioner's e-mail; "
                    "will try again on a later run",
                    case_id,
                )
    context._emails[practitioner] = found
    return found


def known_practitioner(context: ClockContext, practitioner: str) -> str | None:
    """The person ID found for a practitioner before the transaction, without asking again."""
    if is_person_id(practitioner):
        return practitioner
    return context._emails.get(practitioner)


# ------------------------------------------------------------------ jobs


def long_open_cases(context: ClockContext) -> int:
    """Cases open a long time with no recent reflection: a DM to the practitioner, at most once
    per quiet period per case."""
    today = context.hours.today(context.now)
    decided = 0
    for scope, limits in _scopes(context):
        opened_before = today - timedelta(days=limits.long_open_days)
        quiet_since = context.now - timedelta(days=limits.long_open_repeat_days)

        search = queries.long_open_cases(
            opened_before=opened_before, quiet_since=quiet_since, scope=scope
        )

        def decide(
            session: Session, case: queries.LongOpenCase, limits: Any = limits
        ) -> list[Prompt]:
            recipient = known_practitioner(context, case.practitioner_id)
            if recipient is None:
                return []
            message = messages.long_open(
                case_ref=case.ref,
                opened_on=case.opened_on,
                days_open=(today - case.opened_on).days,
                quiet_days=limits.long_open_repeat_days,
            )
            key = f"long_open:{case.case_id}:{today.isoformat()}"
            return [Prompt("long_open", key, case.case_id, recipient, message)]

        def look_up(cases: list[queries.LongOpenCase]) -> None:
            for case in cases:
                resolve_practitioner(context, case.practitioner_id, case.case_id)

        decided += _decide_pages(context, "long_open", search, decide, prepare=look_up)
    return decided


def unfinished_reflections(context: ClockContext) -> int:
    """A reflection paused or untouched for a while: one nudge, ever, per reflection."""
    decided = 0
    for scope, limits in _scopes(context):
        since = context.now - timedelta(hours=limits.unfinished_hours)

        search = queries.unfinished_reflections(untouched_since=since, scope=scope)

        def decide(session: Session, row: queries.ReflectionDue) -> list[Prompt]:
            message = (
                messages.unfinished(case_ref=row.case_ref, status=row.status)
                if is_person_id(row.practitioner_id)
                else None
            )
            key = f"unfinished:{row.reflection_id}"
            return [Prompt("unfinished", key, row.reflection_id, row.practitioner_id, message)]

        decided += _decide_pages(context, "unfinished", search, decide)
    return decided


def lead_followups(context: ClockContext) -> int:
    """Safeguarding-lead contact not confirmed some working days after a reflection: one
    follow-up to the practitioner."""
    decided = 0
    for scope, limits in _scopes(context):
        days = limits.lead_followup_working_days
        # N working days are never fewer than N calendar days: a cheap bound for the search.
        bound = context.now - timedelta(days=days)

        search = queries.unconfirmed_lead_contacts(completed_before=bound, scope=scope)

        def decide(session: Session, row: queries.ReflectionDue, days: int = days) -> list[Prompt]:
            if context.hours.add_working_days(row.at, days) > context.now:
                return []
            message = None
            if is_person_id(row.practitioner_id):
                message = messages.lead_followup(
                    case_ref=row.case_ref,
                    completed_at=context.hours.local(row.at),
                    reflection_id=row.reflection_id,
                    lead_ids=_leads_of(session, row.practitioner_id),
                )
            key = f"lead_followup:{row.reflection_id}"
            return [Prompt("lead_followup", key, row.reflection_id, row.practitioner_id, message)]

        decided += _decide_pages(context, "lead_followup", search, decide)
    return decided


def _leads_of(session: Session, practitioner_id: str) -> list[str]:
    person = org_queries.get_person(session=session, person_id=practitioner_id)
    if person is None:
        return []
    return org_queries.leads_of_agency(session=session, agency_id=person.agency_id)


def action_reminders(context: ClockContext) -> int:
    """On an action's due date (or the last working day before it), a reminder to the
    practitioner and to the owner where the owner is a person in the workspace."""
    today = context.hours.today(context.now)

    search = queries.actions_due_between(
        first=today, last=today + timedelta(days=ACTION_LOOKAHEAD_DAYS)
    )

    def decide(session: Session, action: queries.ActionDue) -> list[Prompt]:
        if context.hours.previous_working_day(action.due_on) > today:
            return []
        recipients = [action.practitioner_id]
        if action.owner_person_id and action.owner_person_id != action.practitioner_id:
            recipients.append(action.owner_person_id)
        prompts = []
        for recipient in recipients:
            message = None
            if is_person_id(recipient):
                message = messages.action_due(
                    case_ref=action.case_ref,
                    due_on=action.due_on,
                    what=action.what,
                    for_owner=recipient != action.practitioner_id,
                    practitioner_id=action.practitioner_id,
                )
            key = f"action_due:{action.action_id}:{recipient}"
            prompts.append(Prompt("action_due", key, action.action_id, recipient, message))
        return prompts

    return _decide_pages(context, "action_due", search, decide)


def iso_week(context: ClockContext) -> str:
    year, week, _ = context.hours.today(context.now).isocalendar()
    return f"{year}-W{week:02d}"


# The week a digest looks back over for drift and escalation flags.
DIGEST_LOOKBACK_DAYS = 7


def weekly_digests(context: ClockContext) -> int:
    """From the first working slot of each ISO week: one digest per supervisor (case refs only).
    A supervisor with nothing to report gets nothing; the decision is recorded all the same."""
    first = context.hours.first_slot_of_week(context.now)
    # Decided in working hours only, so a digest always reflects the morning it is read (a clock
    # that was down on Monday catches up on Tuesday, not at the weekend).
    if first is None or context.now < first or not context.hours.is_working_time(context.now):
        return 0
    week = iso_week(context)
    today = context.hours.today(context.now)
    with context.new_session() as session:
        overrides = queries.agency_clock_options(session=session)

    with context.new_session() as session:
        supervisors = queries.supervisors_without_digest(session=session, week=week)
    size = context.config.batch_size
    pages = [supervisors[i : i + size] for i in range(0, len(supervisors), size)]

    def decide(session: Session, supervisor_id: str) -> list[Prompt]:
        team, agency = queries.team_of(session=session, supervisor_id=supervisor_id)
        limits = context.config.thresholds.merged(overrides.get(agency or "", {}))
        awaiting = queries.awaiting_acknowledgement(session=session, supervisor_id=supervisor_id)
        long_open = queries.count_long_open_cases(
            session=session,
            practitioner_ids=team,
            opened_before=today - timedelta(days=limits.long_open_days),
            quiet_since=context.now - timedelta(days=limits.long_open_repeat_days),
        )
        overdue = queries.overdue_actions_for(
            session=session, supervisor_id=supervisor_id, today=today
        )
        flagged = queries.flagged_cases(
            session=session,
            supervisor_id=supervisor_id,
            since=context.now - timedelta(days=DIGEST_LOOKBACK_DAYS),
        )
        message = None
        if (awaiting[0] or long_open[0] or overdue[0] or flagged[0]) and is_person_id(
            supervisor_id
        ):
            message = messages.digest(
                week_of=today - timedelta(days=today.weekday()),
                awaiting=(awaiting[0], [(r, context.hours.local(c)) for r, c in awaiting[1]]),
                long_open=long_open,
                overdue=overdue,
                flagged=flagged,
                long_open_days=limits.long_open_days,
                quiet_days=limits.long_open_repeat_days,
            )
        key = f"digest:{supervisor_id}:{week}"
        return [Prompt("digest", key, None, supervisor_id, message)]

    return _commit_pages(context, "digest", pages, lambda session, page: page, decide)


def retention(context: ClockContext) -> int:
    """The data-protection purge (bot/retention.py): everything past its retention period."""
    result = purge_expired(context.new_session, now=context.now, policy=context.retention)
    if result.total:
        log.info("retention: purged %s", result.counts())
    # Purged records are not prompts; the count is in the log line above.
    return 0


def monthly_report(context: ClockContext) -> int:
    """The partnership report's short version to each agency's leads, monthly."""
    return monthly.monthly_reports(context)


JOBS: dict[str, Callable[[ClockContext], int]] = {
    "long_open": long_open_cases,
    "unfinished": unfinished_reflections,
    "lead_followup": lead_followups,
    "action_due": action_reminders,
    "digest": weekly_digests,
    "retention": retention,
    "monthly_report": monthly_report,
}


def run_jobs(context: ClockContext) -> TickReport:
    """Every job once as of ``context.now``. A failing job is logged and the others still run;
    what it committed stands and the rest is decided on the next run."""
    report = TickReport()
    for name, job in JOBS.items():
        try:
            report.decided[name] = job(context)
        except Exception as exc:
            # The exception type only: database errors can carry parameters.
            log.error("clock job %s failed (%s); the next run carries on", name, type(exc).__name__)
            log.debug("clock job %s failure", name, exc_info=exc)
            report.failed_jobs.append(name)
    return report
