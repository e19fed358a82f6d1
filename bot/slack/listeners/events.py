"""Events: a direct message to the bot (an answer), and the App Home being opened."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.slack.context import SlackContext
from bot.slack.listeners.common import unescape
from bot.slack.mentions import named_person
from bot.slack.timestamps import slack_time

# A plain message, one with a file attached (the text is the answer; the file is not kept), a
# reply in a thread also sent to the conversation, and a /me message.
ANSWER_SUBTYPES = {None, "file_share", "thread_broadcast", "me_message"}
EDITED = "message_changed"
SLACKBOT = "USLACKBOT"

log = logging.getLogger(__name__)


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
    """A message in the bot's DM is stored, once, as the practitioner's answer, with when they
    typed it (so it is filed under the question then on their screen)."""
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
    context.requests.receive_answer(
        practitioner_id=user,
        text=text,
        typed_at=slack_time(event.get("ts")),
        key=key,
        named=named_person(text),
    )


def edited(context: SlackContext, *, event: dict[str, Any], key: str) -> None:
    """An answer changed after it was sent: edits are not read, so say how to change it. Slack
    also reports a link's preview being added as a change; the text is the same then."""
    now, before = event.get("message") or {}, event.get("previous_message") or {}
    user = now.get("user")
    if not user or user == SLACKBOT or now.get("bot_id") or now.get("text") == before.get("text"):
        return
    context.requests.tell("slack/edits_not_read", key=key, recipient=user)


def app_home_opened(context: SlackContext, *, event: dict[str, Any], body: dict[str, Any]) -> None:
    if event.get("tab") != "home" or not event.get("user"):
        return
    key = f"home:{body.get('event_id') or event.get('event_ts')}"
    context.requests.home(person=event["user"], key=key)
