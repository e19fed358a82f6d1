"""The clock's monthly send: on the first working day of each month, in working hours, each
agency's safeguarding leads get the short version of the month just ended, once.

Once-only is the clock's own: each (agency, month, lead) is a recorded prompt with a unique key,
recorded with its message and the run's audit row in one transaction. An agency turns it off with
``monthly_report: false`` in the organisation file.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.exc import IntegrityError

from bot.clock.context import ClockContext, Prompt, record
from bot.identity import is_person_id
from bot.messaging.message import Message, Part
from bot.report.formats import short
from bot.report.period import Period
from bot.report.service import audit_run, make_report
from storage import report as queries
from storage.db import transaction

JOB = "monthly_report"
ACTOR = "clock"
log = logging.getLogger(__name__)


def first_working_day(context: ClockContext, day: date) -> date:
    return context.hours.next_working_day(day.replace(day=1))


def monthly_reports(context: ClockContext) -> int:
    today = context.hours.today(context.now)
    if today != first_working_day(context, today) or not context.hours.is_working_time(context.now):
        return 0
    period = Period.last_full_month(today)
    month = f"{period.first:%Y-%m}"
    with context.new_session() as session:
        agencies = queries.agencies_with_leads(session=session)
        sent = queries.recorded_keys(session=session, job=JOB, prefix=f"{JOB}:")
    decided = 0
    for agency_id, options, leads in agencies:
        if options.get("monthly_report") is False:
            continue
        due = [lead for lead in leads if _key(agency_id, month, lead) not in sent]
        if not due:
            continue
        report = make_report(
            context.new_session,
            period=period,
            zone=context.hours.zone,
            now=context.now,
            threshold=context.report_small_number,
            agency_id=agency_id,
        )
        message = Message((Part("report/short", {"short": short(report)}),))
        prompts = [
            Prompt(
                JOB,
                _key(agency_id, month, lead),
                None,
                lead,
                message if is_person_id(lead) else None,
            )
            for lead in due
        ]
        try:
            # The send and its audit row together: a send is never unaudited, nor an audit
            # row left for a send another run recorded first.
            with transaction(context.new_session) as session:
                record(context, session, prompts)
                audit_run(
                    session,
                    actor=ACTOR,
                    period=period,
                    agency_id=agency_id,
                    form="monthly",
                    now=context.now,
                )
        except IntegrityError:
            log.warning("%s: already recorded by another run; skipping an agency", JOB)
            continue
        decided += len(prompts)
    return decided


def _key(agency_id: str, month: str, lead: str) -> str:
    return f"{JOB}:{agency_id}:{month}:{lead}"
