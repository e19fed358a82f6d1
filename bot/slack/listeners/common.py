"""Shared by the listeners: starting a reflection (from /reflect or a button), Slack's text."""

from __future__ import annotations

from dataclasses import dataclass

from bot.reflection.messages import Reply
from bot.slack.context import SlackContext


def unescape(text: str) -> str:
    """Slack sends &, < and > escaped in message text; keep what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class Started:
    reply: Reply
    in_dm: bool  # the service recorded its messages for the DM
    resumed: bool


def start_reflection(context: SlackContext, *, user: str, case_ref: str, key: str) -> Started:
    sink = context.sink(key)
    reply = context.service(sink).start(practitioner_id=user, case_ref=case_ref)
    if sink.recorded:
        context.wake()
    resumed = any(m.template == "resumed" for m in reply.messages)
    return Started(reply, sink.recorded, resumed)
