"""`/reflect report`: the short version of last month's partnership report, for administrators
(every agency) and safeguarding leads (their own agency); everyone else is refused politely."""

from __future__ import annotations

from typing import Any

from bot.report.service import last_month_for
from bot.slack import blocks as bk
from bot.slack.context import SlackContext


def report_reply(context: SlackContext, user: str) -> list[dict[str, Any]]:
    summary = last_month_for(
        context.new_session,
        viewer=user,
        zone=context.zone,
        now=context.now(),
        threshold=context.report_small_number,
        form="slack",
    )
    if summary is None:
        return bk.sections(context.renderer.render("report/refused.j2"))
    return bk.sections(context.renderer.render("report/short.j2", short=summary))
