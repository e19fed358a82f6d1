"""`/reflect report`: the short version of last month's partnership report, for administrators
(every agency) and safeguarding leads (their own agency); everyone else is refused politely."""

from __future__ import annotations

from typing import Any

from bot import access
from bot.report.formats import short
from bot.report.period import Period
from bot.report.service import make_report, record_run
from bot.slack import blocks as bk
from bot.slack.context import SlackContext


def report_reply(context: SlackContext, user: str) -> list[dict[str, Any]]:
    now = context.now()
    with context.new_session() as session:
        scope = access.partnership_report_scope(session=session, viewer_id=user)
    if scope is None:
        return bk.sections(context.renderer.render("report/refused.j2"))
    period = Period.last_full_month(now.astimezone(context.zone).date())
    report = make_report(
        context.new_session,
        period=period,
        zone=context.zone,
        now=now,
        threshold=context.report_small_number,
        agency_id=scope.agency_id,
    )
    record_run(
        context.new_session,
        actor=user,
        period=period,
        agency_id=scope.agency_id,
        form="slack",
        now=now,
    )
    return bk.sections(context.renderer.render("report/short.j2", short=short(report)))
