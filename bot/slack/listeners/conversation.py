"""Buttons in the conversation. Each sends the service exactly what typing would have sent."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.messaging import handled
from bot.messaging.message import Part
from bot.messaging.replies import stamp_is_current
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
from bot.slack.listeners.common import handle_once, record_id, start_reflection
from storage.models import Reflection


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
            context.tell("slack/nothing_ticked", key=key, recipient=user)

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
    """Answer with ``text`` if the button belongs to the question being asked now.

    A second click on the same prompt changes nothing (its stamp is claimed with the first);
    a button on an earlier question shows where the conversation is now instead.
    """
    user = body["user"]["id"]
    stamp = stamp_of(action.get("block_id") or "")
    if stamp is None:
        return
    key = f"click:{stamp}"
    if handled.was_taken(context.new_session, key):
        return
    if not _is_current(context, user, stamp):
        if handled.was_taken(context.new_session, key):
            return  # a double click: the first moved the conversation on just now
        preface = (Part("slack/stale_button"),)
        sink = context.sink(f"stale:{stamp}:{action.get('action_ts', '')}", preface=preface)
        context.send_reply(sink, user, context.service().current_prompt(practitioner_id=user))
        return
    sink = context.sink(key, handled_key=key)
    handle_once(
        context, key, lambda: context.service(sink).respond(practitioner_id=user, text=text)
    )


def _is_current(context: SlackContext, user: str, stamp: str) -> bool:
    reflection_id = record_id(stamp.split(".")[0])
    if reflection_id is None:
        return False
    with context.new_session() as session:
        reflection = session.get(Reflection, reflection_id)
        return (
            reflection is not None
            and reflection.practitioner_id == user
            and stamp_is_current(stamp, reflection)
        )


def start_button(context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]) -> None:
    """The `reflect_start` button (App Home, the clock's prompts): like /reflect CASE-REF."""
    user = body["user"]["id"]
    key = f"start:{body.get('trigger_id') or action.get('action_ts')}"
    started = start_reflection(context, user=user, case_ref=action.get("value") or "", key=key)
    if not started.in_dm:
        context.send_reply(context.sink(key), user, started.reply)
