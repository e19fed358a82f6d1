"""The supervisor's Acknowledge and Add note, and the practitioner's lead-contact confirmation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from bot.slack import casework, claims
from bot.slack.compose import (
    ACTION_ACKNOWLEDGE,
    ACTION_ADD_NOTE,
    ACTION_LEAD_CONFIRMED,
    NOTE_INPUT_ACTION,
    NOTE_INPUT_BLOCK,
    NOTE_LIMIT,
    NOTE_MODAL,
    note_modal,
)
from bot.slack.context import SlackContext
from bot.slack.listeners.common import record_id

log = logging.getLogger(__name__)


def register(app: App, context: SlackContext) -> None:
    def acknowledge(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        acknowledge_button(context, body=body, action=action)

    def add_note(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        add_note_button(context, body=body, action=action, client=client)

    def note_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        note_submission(context, ack=ack, body=body, view=view)

    def lead_confirmed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        lead_contact_button(context, body=body, action=action)

    app.action(ACTION_ACKNOWLEDGE)(acknowledge)
    app.action(ACTION_ADD_NOTE)(add_note)
    app.view(NOTE_MODAL)(note_submitted)
    app.action(ACTION_LEAD_CONFIRMED)(lead_confirmed)


def _refuse(context: SlackContext, body: dict[str, Any], outcome: casework.Outcome) -> None:
    if outcome.refused_template:
        user = body["user"]["id"]
        context.tell(
            outcome.refused_template,
            key=f"refused:{body.get('trigger_id')}",
            recipient=user,
            **outcome.data,
        )
    else:
        context.wake()


def _refuse_forged(context: SlackContext, body: dict[str, Any], action: str) -> None:
    """A value that is no reflection id: nothing to look up; refused and audited all the same."""
    outcome = casework.refuse(
        context.new_session,
        action=action,
        actor=body["user"]["id"],
        reflection_id=None,
        now=context.now(),
    )
    _refuse(context, body, outcome)


def _reflection_button(
    context: SlackContext,
    body: dict[str, Any],
    action: dict[str, Any],
    kind: str,
    act: Callable[..., casework.Outcome],
) -> None:
    """A button whose value names a reflection: a forged value is refused, else ``act``."""
    reflection_id = record_id(action.get("value"))
    if reflection_id is None:
        _refuse_forged(context, body, kind)
        return
    outcome = act(
        context.new_session,
        reflection_id=reflection_id,
        actor=body["user"]["id"],
        now=context.now(),
        renderer=context.renderer,
    )
    _refuse(context, body, outcome)


def acknowledge_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _reflection_button(context, body, action, "acknowledge", casework.acknowledge)


def add_note_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any], client: WebClient
) -> None:
    reflection_id = record_id(action.get("value"))
    user = body["user"]["id"]
    if reflection_id is None:
        _refuse_forged(context, body, "note")
        return
    if not casework.may_add_note(context.new_session, reflection_id=reflection_id, actor=user):
        outcome = casework.refuse(
            context.new_session,
            action="note",
            actor=user,
            reflection_id=reflection_id,
            now=context.now(),
        )
        _refuse(context, body, outcome)
        return
    try:
        # A modal must open within seconds of the click, so this call is made now, not queued.
        client.views_open(trigger_id=body["trigger_id"], view=note_modal(reflection_id))
    except SlackApiError as exc:
        log.warning("could not open the note modal: %s", exc.response.get("error"))


def note_submission(
    context: SlackContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    reflection_id = record_id(view.get("private_metadata"))
    value = (
        view.get("state", {})
        .get("values", {})
        .get(NOTE_INPUT_BLOCK, {})
        .get(NOTE_INPUT_ACTION, {})
        .get("value")
    ) or ""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > NOTE_LIMIT:
        message = context.text("note_invalid", empty=not text, length=len(text), limit=NOTE_LIMIT)
        ack(response_action="errors", errors={NOTE_INPUT_BLOCK: message})
        return
    actor = body["user"]["id"]
    try:
        if reflection_id is None:
            outcome = casework.refuse(
                context.new_session,
                action="note",
                actor=actor,
                reflection_id=None,
                now=context.now(),
            )
        else:
            outcome = casework.add_note(
                context.new_session,
                reflection_id=reflection_id,
                actor=actor,
                text=text,
                claim_key=f"view:{view.get('id')}:{view.get('hash')}",
                now=context.now(),
                renderer=context.renderer,
                guard=context.guard,
            )
    except claims.AlreadyHandled:
        ack()
        return
    if outcome.refused_template:
        # Said in the modal, which stays open: what they wrote is not lost from their screen.
        message = context.text(outcome.refused_template, **outcome.data)
        ack(response_action="errors", errors={NOTE_INPUT_BLOCK: message})
        return
    ack()  # the note is stored before the modal closes
    context.wake()


def lead_contact_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _reflection_button(context, body, action, "lead_contact", casework.confirm_lead_contact)
