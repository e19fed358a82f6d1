"""Events: a direct message to the bot (an answer), and the App Home being opened."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltResponse

from bot import casework
from bot.messaging import handled, outbox
from bot.messaging.inbox import NotYet, Received
from bot.messaging.message import HOME, Control, Message, Part
from bot.reflection.messages import Position
from bot.slack.context import SlackContext
from bot.slack.listeners.common import unescape
from bot.slack.mentions import named_person
from storage.db import transaction
from storage.prompts_shown import on_screen_at

# A plain message, one with a file attached (the text is the answer; the file is not kept), a
# reply in a thread also sent to the conversation, and a /me message.
ANSWER_SUBTYPES = {None, "file_share", "thread_broadcast", "me_message"}
EDITED = "message_changed"
SLACKBOT = "USLACKBOT"


ANSWER = "answer"
log = logging.getLogger(__name__)
# How long an answer waits, when a question's send is still in flight, before looking again:
# a fifth of a second at first (a send takes about that), longer the longer it has waited (Slack
# is away, and the send's outcome will be known only when it is back).
SETTLING_SECONDS = 0.2
LONGEST_SETTLING_SECONDS = 5.0


def register(app: App, context: SlackContext) -> None:
    def message(event: dict[str, Any], body: dict[str, Any]) -> None:
        direct_message(context, event=event, body=body)

    def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        app_home_opened(context, event=event, body=body)

    def other_event() -> None:
        pass  # subscribed by mistake, or new from Slack: a 200, or Slack retries and warns

    app.middleware(answer_rate_limit_notice)
    app.event("message")(message)
    app.event("app_home_opened")(home_opened)
    app.event(re.compile(".+"))(other_event)  # last: only what nothing above took
    context.inbox.on(
        ANSWER,
        lambda item: handle_answer(context, item),
        set_aside=lambda item: tell_not_handled(context, item),
    )


def answer_rate_limit_notice(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
    """Slack's notice that it held events back (``app_rate_limited``) carries no event: it gets
    its 200 here, as any event Reflect does not use, rather than Bolt's 404."""
    if body.get("type") != "app_rate_limited":
        next()
        return None
    log.warning(
        "Slack held back events: the app was rate limited (%s)", body.get("minute_rate_limited")
    )
    return BoltResponse(status=200, body="")


def direct_message(context: SlackContext, *, event: dict[str, Any], body: dict[str, Any]) -> None:
    """A message in the bot's DM is stored, once, as the practitioner's answer."""
    if event.get("channel_type") != "im" or event.get("bot_id"):
        return
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    key = f"ev:{event_id}"
    if event.get("subtype") == EDITED:
        edited(context, event=event, key=key)
        return
    if event.get("subtype") not in ANSWER_SUBTYPES:
        return  # deletions and the like are not answers
    user = event.get("user")
    if not user or user == SLACKBOT:
        return
    text = unescape(event.get("text") or "")
    if event.get("subtype") == "file_share" and not text.strip():
        return  # a file alone is not an answer, and is not kept
    payload = {"key": key, "text": text, "ts": event.get("ts") or ""}
    context.inbox.accept(kind=ANSWER, user_id=user, payload=payload, key=key)


def edited(context: SlackContext, *, event: dict[str, Any], key: str) -> None:
    """An answer changed after it was sent: edits are not read, so say how to change it. Slack
    also reports a link's preview being added as a change; the text is the same then."""
    now, before = event.get("message") or {}, event.get("previous_message") or {}
    user = now.get("user")
    if not user or user == SLACKBOT or now.get("bot_id") or now.get("text") == before.get("text"):
        return
    context.tell("slack/edits_not_read", key=key, recipient=user)


def handle_answer(context: SlackContext, item: Received) -> None:
    """The stored answer goes to the service, filed under the question that was on the
    practitioner's screen when they typed it; the service records the next question."""
    typed_under = None
    if item.payload.get("ts"):
        with context.new_session() as session:
            shown = on_screen_at(
                session=session,
                recipient=item.user_id,
                ts=item.payload["ts"],
                sent_not_marked=context.sent_not_marked,
            )
        if not shown.settled:
            # A question's send is in flight: did it reach them before they typed?
            raise NotYet(settling_wait(item, context.now()))
        typed_under = Position.from_key(shown.prompt)
    sink = context.sink(item.payload["key"], consumes=item.id)
    try:
        context.service(sink).respond(
            practitioner_id=item.user_id,
            text=item.payload["text"],
            typed_under=typed_under,
            person=named_person(item.payload["text"]),
        )
    except handled.AlreadyHandled:
        return


def settling_wait(item: Received, now: datetime) -> float:
    waited = (now - item.received_at).total_seconds() if item.received_at else 0.0
    return min(max(waited / 4, SETTLING_SECONDS), LONGEST_SETTLING_SECONDS)


def tell_not_handled(context: SlackContext, item: Received) -> None:
    """An answer that could not be handled after every try: the practitioner is told, and
    that it is kept (an operator can try it again)."""
    context.tell(
        "slack/answer_not_handled",
        key=f"set-aside:{item.id}",
        recipient=item.user_id,
        kind=item.kind,
    )


def app_home_opened(context: SlackContext, *, event: dict[str, Any], body: dict[str, Any]) -> None:
    if event.get("tab") != "home" or not event.get("user"):
        return
    user = event["user"]
    key = f"home:{body.get('event_id') or event.get('event_ts')}"
    try:
        with transaction(context.new_session) as session:
            now = context.now()
            handled.take(session=session, key=key, now=now)
            home = casework.home(session=session, user_id=user, now=now, zone=context.zone)
            outbox.record(
                session,
                key=key,
                recipient=user,
                message=home_page(home.data()),
                now=now,
                delivery=context.delivery,
                surface=HOME,
            )
    except handled.AlreadyHandled:
        return
    context.wake()


def home_page(data: dict[str, Any]) -> Message:
    """The App Home: what the person has under way, with a start control per open case."""
    starts = tuple(Control("start", case.ref) for case in data["cases"])
    return Message((Part("slack/home", data, starts),))
