"""`/reflect report`: the short version of last month's partnership report, for administrators
(every agency) and safeguarding leads (their own agency); everyone else is refused politely."""

from __future__ import annotations

from typing import Any

from bot.slack import blocks as bk
from bot.slack.context import VIA, SlackContext


def report_reply(context: SlackContext, user: str) -> list[dict[str, Any]]:
    summary = context.requests.last_month_report(person=user, via=VIA)
    if summary is None:
        return bk.sections(context.renderer.render("report/refused.j2"))
    return bk.sections(context.renderer.render("report/short.j2", short=summary))
