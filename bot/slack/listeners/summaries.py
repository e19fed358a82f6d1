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

from bot import casework
from bot.messaging import handled
from bot.messaging.replies import say
from bot.slack.compose import (
    ACTION_ACKNOWLEDGE,
    ACTION_ADD_NOTE,
    ACTION_CALL_PROMISED,
    ACTION_LEAD_CONFIRMED,
    ACTION_RECORD_DECISION,
    ACTION_SHOW_ANSWERS,
    DECISION_INPUT_ACTION,
    DECISION_INPUT_BLOCK,
    DECISION_LIMIT,
    DECISION_MODAL,
    NOTE_INPUT_ACTION,
    NOTE_INPUT_BLOCK,
    NOTE_LIMIT,
    NOTE_MODAL,
    decision_modal,
    note_modal,
)
from bot.slack.context import SlackContext
from bot.slack.listeners.common import record_id
from storage.db import transaction

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


def _casework(
    context: SlackContext,
    act: Callable[..., casework.Outcome],
    claim: str | None = None,
    **request: Any,
) -> casework.Outcome:
    """Run a casework request in one transaction with the DMs it records (and, if it was done,
    the handled-once ``claim``)."""
    now = context.now()
    with transaction(context.new_session) as session:
        outcome = act(session=session, now=now, **request)
        if claim is not None and outcome.done:
            handled.take(session=session, key=claim, now=now)
        for notice in outcome.notices:
            say(
                notice.message.template,
                session=session,
                key=notice.key,
                recipient=notice.recipient,
                now=now,
                delivery=context.delivery,
                **notice.message.data,
            )
    return outcome


def _refuse(context: SlackContext, body: dict[str, Any], outcome: casework.Outcome) -> None:
    if outcome.refusal is not None:
        user = body["user"]["id"]
        context.tell(
            outcome.refusal.template,
            key=f"refused:{body.get('trigger_id')}",
            recipient=user,
            **outcome.refusal.data,
        )
    else:
        context.wake()


def _refuse_forged(context: SlackContext, body: dict[str, Any], action: str) -> None:
    """A value that is no reflection id: nothing to look up; refused and audited all the same."""
    outcome = _casework(
        context, casework.refuse, action=action, actor=body["user"]["id"], reflection_id=None
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
    outcome = _casework(context, act, reflection_id=reflection_id, actor=body["user"]["id"])
    _refuse(context, body, outcome)


def acknowledge_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _reflection_button(context, body, action, "acknowledge", casework.acknowledge)


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
    reflection_id = record_id(action.get("value"))
    user = body["user"]["id"]
    if reflection_id is None:
        _refuse_forged(context, body, kind)
        return
    with context.new_session() as session:
        allowed = casework.may_write_to_practitioner(
            session=session, reflection_id=reflection_id, actor=user
        )
    if not allowed:
        outcome = _casework(
            context, casework.refuse, action=kind, actor=user, reflection_id=reflection_id
        )
        _refuse(context, body, outcome)
        return
    try:
        # A modal must open within seconds of the click, so this call is made now, not queued.
        client.views_open(trigger_id=body["trigger_id"], view=modal(reflection_id))
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
        limit=NOTE_LIMIT,
        write=casework.add_note,
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
        limit=DECISION_LIMIT,
        write=casework.record_decision,
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
    limit: int,
    write: Callable[..., casework.Outcome],
) -> None:
    """A submitted note or decision modal: checked, then written once (``write``)."""
    reflection_id = record_id(view.get("private_metadata"))
    value = (
        view.get("state", {}).get("values", {}).get(block, {}).get(element, {}).get("value")
    ) or ""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limit:
        message = context.text(
            f"notices/{kind}_invalid", empty=not text, length=len(text), limit=limit
        )
        ack(response_action="errors", errors={block: message})
        return
    actor = body["user"]["id"]
    try:
        if reflection_id is None:
            outcome = _casework(
                context, casework.refuse, action=kind, actor=actor, reflection_id=None
            )
        else:
            outcome = _casework(
                context,
                write,
                claim=f"view:{view.get('id')}:{view.get('hash')}",
                reflection_id=reflection_id,
                actor=actor,
                text=text,
                guard=context.guard,
            )
    except handled.AlreadyHandled:
        ack()
        return
    if outcome.refusal is not None:
        # Said in the modal, which stays open: what they wrote is not lost from their screen.
        message = context.text(outcome.refusal.template, **outcome.refusal.data)
        ack(response_action="errors", errors={block: message})
        return
    ack()  # stored before the modal closes
    context.wake()


def call_promised_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _reflection_button(context, body, action, "call_promised", casework.promise_call)


def show_answers_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """The answers behind a summary, posted as a new DM to whoever pressed (if they may read
    them). Once per summary message: Slack names the message by its ts."""
    container = body.get("container") or {}
    named = str(container.get("message_ts") or action.get("action_ts") or "")
    shown_under = "".join(c for c in named if c.isdigit() or c == ".")[:32]
    _reflection_button(
        context,
        body,
        action,
        "answers",
        lambda **request: casework.show_answers(shown_under=shown_under, **request),
    )


def lead_contact_button(
    context: SlackContext, *, body: dict[str, Any], action: dict[str, Any]
) -> None:
    _reflection_button(context, body, action, "lead_contact", casework.confirm_lead_contact)
