"""Buttons in the conversation. Each sends the service exactly what typing would have sent."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.slack.compose import (
    ACTION_ANSWER,
    ACTION_COMMAND,
    ACTION_DUE_DATE,
    ACTION_START,
    ACTION_TICK,
    ACTION_TICKED,
    stamp_of,
    ticked_numbers,
)
from bot.slack.context import SlackContext


def register(app: App, context: SlackContext) -> None:
    def answer(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        conversation_click(context, body=body, action=action, text=action.get("value") or "")

    def due_date(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        picked = action.get("selected_date")
        if picked:
            conversation_click(context, body=body, action=action, text=picked)

    def tick(ack: Ack) -> None:
        ack()  # a box ticked or unticked: the answer is sent with the button beneath

    def ticked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        stamp = stamp_of(action.get("block_id") or "") or ""
        numbers = ticked_numbers(body.get("state") or {}, stamp)
        if numbers:
            conversation_click(context, body=body, action=action, text=", ".join(numbers))
        else:  # nothing ticked: say how, and leave the question (and its buttons) as it is
            user = body["user"]["id"]
            key = f"unticked:{stamp}:{action.get('action_ts', '')}"
            context.requests.tell("slack/nothing_ticked", key=key, recipient=user)

    def start(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        start_button(context, body=body, action=action)

    app.action(re.compile(f"^{ACTION_ANSWER}_"))(answer)
    app.action(re.compile(f"^{ACTION_COMMAND}_"))(answer)
    app.action(ACTION_DUE_DATE)(due_date)
    app.action(ACTION_TICK)(tick)
    app.action(ACTION_TICKED)(ticked)
    app.action(ACTION_START)(start)


def conversation_click(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any], text: str
) -> None:
    """Answer with ``text``, if the button belongs to the question being asked now."""
    context.requests.click(
        practitioner_id=body["user"]["id"],
        stamp=stamp_of(action.get("block_id") or ""),
        text=text,
        click_id=str(action.get("action_ts", "")),
    )


def start_button(context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]) -> None:
    """The `reflect_start` button (App Home, the clock's prompts): like /reflect CASE-REF."""
    context.requests.start_now(
        practitioner_id=body["user"]["id"],
        case_ref=action.get("value") or "",
        key=f"start:{body.get('trigger_id') or action.get('action_ts')}",
    )
