"""The buttons under a summary: the supervisor's Acknowledge, Add a note, "I'll call you before
the visit" and Record a decision; Show the answers for whoever may read it; and the
practitioner's lead-contact confirmation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from bot.slack.compose import (
    ACTION_ACKNOWLEDGE,
    ACTION_ADD_NOTE,
    ACTION_CALL_PROMISED,
    ACTION_LEAD_CONFIRMED,
    ACTION_RECORD_DECISION,
    ACTION_SHOW_ANSWERS,
    DECISION_INPUT_ACTION,
    DECISION_INPUT_BLOCK,
    DECISION_MODAL,
    NOTE_INPUT_ACTION,
    NOTE_INPUT_BLOCK,
    NOTE_MODAL,
    decision_modal,
    note_modal,
)
from bot.slack.context import SlackContext

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

    def call_promised(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        call_promised_button(context, body=body, action=action)

    def record_decision(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        record_decision_button(context, body=body, action=action, client=client)

    def decision_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        decision_submission(context, ack=ack, body=body, view=view)

    def answers(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        show_answers_button(context, body=body, action=action)

    app.action(ACTION_ACKNOWLEDGE)(acknowledge)
    app.action(ACTION_ADD_NOTE)(add_note)
    app.view(NOTE_MODAL)(note_submitted)
    app.action(ACTION_LEAD_CONFIRMED)(lead_confirmed)
    app.action(ACTION_CALL_PROMISED)(call_promised)
    app.action(ACTION_RECORD_DECISION)(record_decision)
    app.view(DECISION_MODAL)(decision_submitted)
    app.action(ACTION_SHOW_ANSWERS)(answers)


def _control(
    context: SlackContext, body: dict[str, Any], action: dict[str, Any], kind: str
) -> None:
    context.requests.control(
        action=kind,
        person=body["user"]["id"],
        value=action.get("value"),
        key=str(body.get("trigger_id") or action.get("action_ts") or ""),
        shown_under=_message_named(body, action),
    )


def _message_named(body: dict[str, Any], action: dict[str, Any]) -> str:
    """The summary message the button is on: Slack names it by its ts."""
    container = body.get("container") or {}
    named = str(container.get("message_ts") or action.get("action_ts") or "")
    return "".join(c for c in named if c.isdigit() or c == ".")[:32]


def acknowledge_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _control(context, body, action, "acknowledge")


def call_promised_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _control(context, body, action, "call_promised")


def show_answers_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """The answers behind a summary, posted as a new DM to whoever pressed (if they may read
    them), once per summary message."""
    _control(context, body, action, "show_answers")


def lead_contact_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _control(context, body, action, "confirm_lead_contact")


def add_note_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any], client: WebClient
) -> None:
    _open_modal(context, body=body, action=action, client=client, kind="note", modal=note_modal)


def record_decision_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any], client: WebClient
) -> None:
    _open_modal(
        context, body=body, action=action, client=client, kind="decision", modal=decision_modal
    )


def _open_modal(
    context: SlackContext,
    *,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    kind: str,
    modal: Callable[[int], dict[str, Any]],
) -> None:
    """Open the note or decision modal for the reflection's supervisor; refuse anyone else."""
    value = action.get("value")
    if not context.requests.may_write(
        kind=kind, person=body["user"]["id"], value=value, key=str(body.get("trigger_id"))
    ):
        return
    try:
        # A modal must open within seconds of the click, so this call is made now, not queued.
        client.views_open(trigger_id=body["trigger_id"], view=modal(int(str(value))))
    except SlackApiError as exc:
        log.warning("could not open the %s modal: %s", kind, exc.response.get("error"))


def note_submission(
    context: SlackContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    _text_submission(
        context,
        ack=ack,
        body=body,
        view=view,
        kind="note",
        block=NOTE_INPUT_BLOCK,
        element=NOTE_INPUT_ACTION,
    )


def decision_submission(
    context: SlackContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    _text_submission(
        context,
        ack=ack,
        body=body,
        view=view,
        kind="decision",
        block=DECISION_INPUT_BLOCK,
        element=DECISION_INPUT_ACTION,
    )


def _text_submission(
    context: SlackContext,
    *,
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    kind: str,
    block: str,
    element: str,
) -> None:
    """A submitted note or decision modal: kept once, or the refusal said in the modal, which
    stays open so what they wrote is not lost from their screen."""
    value = (
        view.get("state", {}).get("values", {}).get(block, {}).get(element, {}).get("value")
    ) or ""
    written = context.requests.write(
        kind=kind,
        person=body["user"]["id"],
        value=view.get("private_metadata"),
        text=value if isinstance(value, str) else "",
        key=f"view:{view.get('id')}:{view.get('hash')}",
    )
    if written.refusal is not None:
        message = context.text(written.refusal.template, **written.refusal.data)
        ack(response_action="errors", errors={block: message})
        return
    ack()  # stored before the modal closes
