"""/reflect: start or resume, help, list, history, close. Every reply is ephemeral."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy.exc import SQLAlchemyError

from bot.messaging.message import Message, Part
from bot.slack import blocks as bk
from bot.slack.context import VIA, SlackContext
from bot.slack.report import report_reply

log = logging.getLogger(__name__)


def register(app: App, context: SlackContext) -> None:
    def reflect(ack: Ack, body: dict[str, Any]) -> None:
        reflect_command(context, ack=ack, body=body)

    app.command("/reflect")(reflect)


def reflect_command(context: SlackContext, *, ack: Ack, body: dict[str, Any]) -> None:
    try:
        reply_blocks = _answer(context, body)
    except SQLAlchemyError as exc:  # the database is away: say so, never a Slack error page
        log.error("/reflect failed: %s", type(exc).__name__)
        reply_blocks = bk.sections(context.text("slack/unavailable"))
    reply_blocks = reply_blocks[: bk.MESSAGE_BLOCK_LIMIT]
    bk.validate(reply_blocks, limit=bk.MESSAGE_BLOCK_LIMIT)
    ack(text=bk.fallback_text(reply_blocks), blocks=reply_blocks, response_type="ephemeral")


def _answer(context: SlackContext, body: dict[str, Any]) -> list[dict[str, Any]]:
    user = body["user_id"]
    text = (body.get("text") or "").strip()
    words = text.split()
    first = words[0].lower() if words else ""
    handlers: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "": lambda: bk.sections(context.text("slack/help")),
        "help": lambda: bk.sections(context.text("slack/help")),
        "list": lambda: _list(context, user),
        "report": lambda: report_reply(context, user),
    }
    if first in handlers:
        reply_blocks = handlers[first]()
    elif first in {"history", "close"}:
        if len(words) < 2:
            reply_blocks = bk.sections(context.text("slack/usage", word=first))
        elif first == "history":
            reply_blocks = _history(context, user, words[1])
        else:
            reply_blocks = _close(context, user, words[1])
    else:
        reply_blocks = _start(context, user, text, body.get("trigger_id") or "")
    return reply_blocks


def _start(context: SlackContext, user: str, text: str, trigger_id: str) -> list[dict[str, Any]]:
    """Refuse at once what starting would refuse; otherwise store the request and say so."""
    preview = context.requests.request_start(
        practitioner_id=user, case_ref=text, key=f"cmd:{trigger_id}"
    )
    if preview.refusal is not None:
        return [
            block
            for message in preview.refusal.messages
            for block in bk.sections(context.renderer.message(message))
        ]
    return bk.sections(
        context.text("slack/started", case_ref=preview.case_ref, resumed=preview.resumes)
    )


def _list(context: SlackContext, user: str) -> list[dict[str, Any]]:
    cases = context.requests.open_cases(person=user)
    return bk.sections(context.text("slack/list", cases=cases))


def _history(context: SlackContext, user: str, case_ref: str) -> list[dict[str, Any]]:
    """The newest summaries of a case, in the ephemeral reply when they fit in one message;
    otherwise in the DM, in as many messages as they need (an ephemeral reply is one message,
    and half a summary would mislead), with the reply saying so."""
    history = context.requests.history(person=user, case_ref=case_ref, via=VIA)
    if not history.allowed:
        return bk.sections(context.text("slack/history_refused", case_ref=history.case_ref))
    header_data = {
        "case_ref": history.case_ref,
        "count": history.total,
        "shown": len(history.summaries),
    }
    header = context.text("slack/history_header", **header_data)
    blocks = bk.sections(header)
    for summary in history.summaries:
        text = context.renderer.render("messages/summary.j2", summary=summary, audience="record")
        blocks += [{"type": "divider"}, *bk.sections(text)]
    if bk.fits_one_message(blocks):
        return blocks
    now = context.requests.now()
    said = Message(
        (
            Part("slack/history_header", header_data),
            *(
                Part("messages/summary", {"summary": summary, "audience": "record"}, apart=True)
                for summary in history.summaries
            ),
        )
    )
    context.requests.record(
        key=f"history:{user}:{history.case_ref}:{now.isoformat()}", recipient=user, message=said
    )
    parts = bk.pack(blocks)
    return bk.sections(
        context.text(
            "slack/history_sent",
            case_ref=history.case_ref,
            shown=len(history.summaries),
            parts=len(parts),
        )
    )


def _close(context: SlackContext, user: str, case_ref: str) -> list[dict[str, Any]]:
    said = context.requests.close(person=user, case_ref=case_ref)
    return bk.sections(context.text(said.template, **said.data))
