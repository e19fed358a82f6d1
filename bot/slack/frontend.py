"""The Slack front end of the outbox: renders stored messages as Block Kit when they are sent,
posts them with chat.postMessage (a home page with views.publish), finds a post whose send
had an unknown outcome by the stamp in its metadata, and says what Slack's errors mean.

One stored message may become several posts, to keep within Slack's limits; each post's
metadata carries the outbox id and its part, so the one uncertain post is looked for before
it is sent again (bot/messaging/delivery.py records how many have gone).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.web import WebClient

from bot.messaging.frontend import Outcome, Stamp
from bot.messaging.message import CONVERSATION, HOME, Message, Part
from bot.render import Renderer, renderer
from bot.settings import Settings
from bot.slack import blocks as bk
from bot.slack.compose import part_blocks
from bot.slack.dialect import SLACK
from bot.slack.timestamps import slack_time

log = logging.getLogger(__name__)

# The longest the outbox waits for Slack's answer to one call (as bot/slack/app.py's client).
SEND_TIMEOUT = 10
DEADLINE_MARGIN = timedelta(seconds=2)
POST = "chat.postMessage"
PUBLISH = "views.publish"
# A row recorded before the outbox stored templates: "slack:<method>", its payload the call's.
LEGACY = "slack:"
# The most text a message that must stay one post can hold, with room for a button; longer
# is shortened (see bot/slack/blocks.py's budget).
ONE_MESSAGE_TEXT = bk.MESSAGE_TEXT_BUDGET // 2
# Slack's errors about the message itself: no retry will make Slack take it. Such a message
# is set aside at once for an operator (its payload kept), and its recipient's later
# messages go on.
MESSAGE_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_attachments",
        "attachment_payload_limit_exceeded",
        "invalid_arguments",
        "invalid_array_arg",
        "invalid_arg_name",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
        "invalid_json",
        "json_not_object",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "metadata_must_be_sent_from_app",
        "view_too_large",
        "duplicate_external_id",
        # a modal's trigger lasts 3 s and is spent by its first use
        "expired_trigger_id",
        "exchanged_trigger_id",
        "invalid_trigger_id",
    }
)
# The recipient has left, or cannot be written to: nothing more is sent to tell them.
RECIPIENT_ERRORS = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "messages_tab_disabled",
        "not_in_channel",
        "restricted_action",
        "user_disabled",
        "user_not_found",
        "users_not_found",
    }
)
PERMANENT_ERRORS = MESSAGE_ERRORS | RECIPIENT_ERRORS
# Slack's errors about Reflect itself (its token, its scopes): every message fails alike until
# an operator fixes it, so none is set aside for them; they are retried, and logged as errors.
APP_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
        "access_denied",
        "team_access_not_granted",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "org_login_required",
    }
)
# Slack being busy, whoever the message is for: waited out, never held against the message.
BUSY_ERRORS = frozenset({"ratelimited", "rate_limited", "message_limit_exceeded"})
# Templates that were under prompts/slack/ when what casework and the core record was named for
# Slack: a message recorded before they moved is rendered from where they are now.
MOVED_TEMPLATES = {
    **{
        f"slack/{name}": f"notices/{name}"
        for name in (
            "acknowledged_practitioner",
            "acknowledged_supervisor",
            "answers",
            "answers_refused",
            "call_promised_practitioner",
            "call_promised_supervisor",
            "case_closed_done",
            "close_refused",
            "decision_invalid",
            "decision_practitioner",
            "decision_supervisor",
            "lead_confirmed",
            "lead_not_yours",
            "message_set_aside",
            "not_supervisor",
            "note_invalid",
            "note_practitioner",
            "note_supervisor",
        )
    },
    "slack/supervisor_intro": "messages/supervisor_intro",
    "slack/answer_not_handled": "messages/answer_not_handled",
    "slack/stale_button": "messages/stale_button",
    "slack/lead_copy_intro": "messages/lead_copy_intro",
}
# The metadata event type that stamps a post with its outbox id and part.
STAMP = "reflect_outbox_message"
HISTORY_PAGE = 100
HISTORY_PAGES = 5
# Slack's clock and ours may differ: the search starts this long before the row was recorded.
CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class SlackCall:
    """One Web API call: a post, or a home page published."""

    method: str
    payload: dict[str, Any]

    @property
    def channel(self) -> str:
        return str(self.payload.get("channel") or self.payload.get("user_id") or "")


def front_end_for(settings: Settings) -> SlackFrontEnd | None:
    """The Slack front end the settings describe; None without a bot token (messages are
    recorded, and wait to be sent until one is configured)."""
    if not settings.slack_bot_token:
        return None
    base_url = (settings.slack_api_url or WebClient.BASE_URL).rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token, base_url=base_url, timeout=SEND_TIMEOUT)
    return SlackFrontEnd(client)


class SlackFrontEnd:
    """bot/messaging/frontend.py's FrontEnd for Slack."""

    def __init__(self, client: WebClient, text: Renderer | None = None) -> None:
        self.client = sending_client(client)
        self.text = text or renderer(SLACK)

    # ----------------------------------------------------------- rendering

    def render(self, surface: str, recipient: str, message: Message) -> Sequence[SlackCall]:
        if message.legacy is not None:
            if not surface.startswith(LEGACY):
                raise ValueError(f"a recorded call for another platform ({surface})")
            return [SlackCall(surface.removeprefix(LEGACY), message.legacy)]
        parts = [moved(part) for part in message.parts]
        blocks = [block for part in parts for block in part_blocks(part, self.text)]
        if surface == HOME:
            view = bk.home_view(blocks[: bk.HOME_BLOCK_LIMIT])
            return [SlackCall(PUBLISH, {"user_id": recipient, "view": view})]
        if surface != CONVERSATION:
            raise ValueError(f"no such surface: {surface}")
        if message.single:
            return [SlackCall(POST, one_message(recipient, blocks))]
        return [SlackCall(POST, payload) for payload in bk.chat_messages(recipient, blocks)]

    # ----------------------------------------------------------- sending

    def send(self, post: SlackCall, *, stamp: Stamp) -> Outcome:
        try:
            response = self.client.api_call(post.method, json=stamped(post, stamp))
        except Exception as exc:
            return failure(exc)
        ts = response.get("ts")
        return Outcome(ok=True, ref=str(ts) if ts else None, posted_at=slack_time(ts))

    def longest_send(self) -> timedelta:
        """Its timeout, twice (a connection that failed is tried once more), and a margin."""
        return timedelta(seconds=2 * self.client.timeout + 5)

    def send_deadline(self) -> timedelta:
        """Slack may hold a post it has taken until the client gives up on its answer, and
        post it then; the margin covers the way there and two processes' clocks."""
        return timedelta(seconds=self.client.timeout) + DEADLINE_MARGIN

    # ----------------------------------------------------------- looking

    def find(self, post: SlackCall, *, stamp: Stamp, since: datetime) -> Outcome | None:
        """Only posts are looked for: a home page published again replaces itself, so
        publishing twice is harmless."""
        if post.method != POST:
            return None
        try:
            ts = find_posted(self.client, stamp=stamp, channel=post.channel, since=since)
        except Exception as exc:
            if _refused(exc):
                log.warning(
                    "cannot look for outbox message %s (%s): sending it again unchecked",
                    stamp.outbox_id,
                    _error_code(exc),  # type: ignore[arg-type]
                )
                return None
            return failure(exc)
        return None if ts is None else Outcome(ok=True, ref=ts, posted_at=slack_time(ts))


# Recorded under a neutral name, shown in Slack's own way: the home page is Slack's App Home.
SLACK_OWN_TEMPLATES = {"home": "slack/home"}


def moved(part: Part) -> Part:
    """The part as it is rendered now: a template that moved since it was recorded is found
    where it is now, and one Slack shows its own way from its Slack template."""
    template = MOVED_TEMPLATES.get(part.template) or SLACK_OWN_TEMPLATES.get(part.template)
    return part if template is None else replace(part, template=template)


def one_message(channel: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """One post, its text shortened if it is ever longer than one post holds.

    Not checked against slack_sdk's models as it is built: the clock may record ten thousand
    of these in one run; tests/clock/test_messages.py checks every kind."""
    if not bk.fits_one_message(blocks):
        text = "\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")
        buttons = [b for b in blocks if b.get("type") != "section"]
        blocks = [*bk.sections(bk.truncate(text, ONE_MESSAGE_TEXT)), *buttons]
    [payload] = bk.unchecked_messages(channel, blocks)
    return payload


def stamped(post: SlackCall, stamp: Stamp) -> dict[str, Any]:
    """The payload as sent: a post carries its outbox id and part, to be found again."""
    if post.method != POST:
        return post.payload
    metadata = {
        "event_type": STAMP,
        "event_payload": {"outbox_id": stamp.outbox_id, "part": stamp.part},
    }
    return {**post.payload, "metadata": metadata}


def find_posted(client: WebClient, *, stamp: Stamp, channel: str, since: datetime) -> str | None:
    """Slack's ts of the post stamped ``stamp`` in ``channel`` (a person's user id means their
    DM with the app), searching what was posted after ``since``; None if it is not there.
    Raises for Slack's and the network's errors."""
    conversation = _conversation(client, channel)
    oldest = f"{(since - CLOCK_SKEW).timestamp():.6f}"
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        page = client.conversations_history(
            channel=conversation,
            oldest=oldest,
            limit=HISTORY_PAGE,
            include_all_metadata=True,
            cursor=cursor,
        )
        for posted in page.get("messages") or []:
            if _stamp_of(posted) == stamp:
                return str(posted["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return None
    return None  # more posted since than the search reads: taken as not there


def _conversation(client: WebClient, channel: str) -> str:
    """The id of the conversation a post to ``channel`` lands in. A post to a person's user id
    lands in the app's DM with them, whose own id (D...) the history needs."""
    if not channel.startswith(("U", "W")):
        return channel
    opened = client.conversations_open(users=channel)
    return str(opened["channel"]["id"])


def _stamp_of(posted: dict[str, Any]) -> Stamp | None:
    metadata = posted.get("metadata") or {}
    if metadata.get("event_type") != STAMP:
        return None
    stamp = metadata.get("event_payload") or {}
    try:
        # A post stamped before messages could be split carries no part: it was the only one.
        return Stamp(int(stamp["outbox_id"]), int(stamp.get("part") or 0))
    except (KeyError, TypeError, ValueError):
        return None


def sending_client(client: WebClient) -> WebClient:
    """``client`` as the outbox sends with it: waiting at most SEND_TIMEOUT for an answer, so a
    send ends well inside its claim (see longest_send), and retrying only calls that never
    reached Slack. slack_sdk by default also retries a connection reset or dropped while
    waiting for the answer; Slack may have taken the message by then, and that retry would post
    it a second time unseen. urllib raises URLError only while connecting or writing the
    request, so that one is safe to repeat."""
    sending = copy.copy(client)
    sending.timeout = min(client.timeout or SEND_TIMEOUT, SEND_TIMEOUT)
    sending.retry_handlers = [ConnectionErrorRetryHandler(error_types=[URLError])]
    return sending


def failure(exc: Exception) -> Outcome:
    """What a call that raised ``exc`` means for its message: retried when, or set aside, and
    whether it may have arrived all the same."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            seconds = int(exc.response.headers.get("Retry-After", "30") or 30)
            return Outcome(
                ok=False, error="ratelimited", busy=True, retry_after=timedelta(seconds=seconds)
            )
        if status >= 500:  # Slack failed somewhere, perhaps after posting
            return Outcome(ok=False, error=f"http_{status}", uncertain=True)
        error = _error_code(exc)
        return Outcome(
            ok=False,
            error=error,
            permanent=error in PERMANENT_ERRORS,
            recipient_gone=error in RECIPIENT_ERRORS,
            busy=error in BUSY_ERRORS,
            app_fault=error in APP_ERRORS,
        )
    if isinstance(exc, URLError) and not isinstance(exc, HTTPError):
        # Connecting or writing the request failed (urllib wraps only those): Slack never had it.
        return Outcome(ok=False, error=type(exc).__name__)
    # A timeout or a dropped connection while waiting for the answer: Slack may have posted it.
    return Outcome(ok=False, error=type(exc).__name__, uncertain=True)


def _refused(exc: Exception) -> bool:
    """Slack answered, and the answer was no (not rate limiting, not its own failure)."""
    if not isinstance(exc, SlackApiError):
        return False
    status: int = exc.response.status_code
    return status != 429 and status < 500


def _error_code(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or f"http_{exc.response.status_code}")
