"""Shared by the listeners: starting a reflection (from /reflect or a button), Slack's text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bot.messaging import handled
from bot.reflection.messages import Reply
from bot.slack.context import SlackContext

# The largest id PostgreSQL's integer column holds: a larger forged one is not looked up.
MAX_RECORD_ID = 2**31 - 1


def record_id(value: object) -> int | None:
    """A row id from a button's value or a prompt stamp; None for anything else (a forged
    value such as "abc", "-1", "²" or a number too big for the column)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if 0 < number <= MAX_RECORD_ID else None


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


def handle_once(context: SlackContext, key: str, work: Callable[[], object]) -> None:
    """Run ``work`` (which claims ``key`` in its transaction) unless it was done already.

    A repeat (Slack's retry, a second process) does the work again and rolls it back when the
    claim finds the key taken: cheaper than looking first, as repeats are rare. When the same
    event races itself, the loser may trip over the winner's rows before it reaches the claim
    (SQLite has no row locks); once the winner's claim is visible, that conflict means "already
    handled" too. Any other failure propagates, so Slack retries.
    """
    try:
        work()
    except handled.AlreadyHandled:
        return
    except IntegrityError:
        if handled.was_taken(context.new_session, key):
            return
        raise
    context.wake()
