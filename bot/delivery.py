"""Delivers the outbox to Slack's Web API: in order per recipient, with retries, never twice.

Every process that records messages (web, clock) also runs delivery; claims are leases in the
database, so several processes can deliver at once without sending anything twice.

A send whose outcome is unknown (the process died mid-send, Slack answered too late or with a
5xx) leaves the message uncertain. Each post carries its outbox id in Slack's message metadata,
so before an uncertain post is sent again, the conversation is searched for it: found, it is
marked sent with Slack's ts for it; not found, it is sent.

No one message holds up a person's later ones for long: a message Slack refuses for good, or
one still failing after SET_ASIDE_AFTER while Slack takes other people's messages, is set aside
for an operator (`reflect outbox list`, `reflect outbox retry`), and the person's later
messages go on. While Slack fails everyone (an outage), nothing is set aside.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeGuard
from urllib.error import HTTPError, URLError

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.web import WebClient
from sqlmodel import Session

from bot.render import renderer
from bot.slack import blocks as bk
from storage import outbox
from storage.db import SessionFactory, transaction
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

# How long a claim lasts. It must outlast a send (see longest_call: 25 s): a claim that runs
# out while its send is in flight lets another process send the message too.
LEASE = timedelta(seconds=60)
# The longest the outbox waits for Slack's answer to one call (as bot/slack/app.py's client).
SEND_TIMEOUT = 10
MAX_ATTEMPTS = 40
# Slack's errors about the message itself, or its recipient (PERMANENT_ERRORS): no retry will
# make Slack take it. Such a message is set aside at once for an operator (status "failed",
# payload kept), and its recipient's later messages go on.
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
# No message holds up its recipient's later ones for longer than this while Slack takes other
# people's messages: one still failing after it is set aside (see settle).
SET_ASIDE_AFTER = timedelta(minutes=5)
# The metadata event type that stamps a post with its outbox id.
STAMP = "reflect_outbox_message"
# Methods whose uncertain sends are looked for before they are sent again: only posts, which
# would show twice and carry the stamp. views.publish and views.update replace a view whole,
# so publishing again is harmless; chat.postEphemeral leaves nothing in history to find (a
# second copy is seen once, by one person, and gone on reload); views.open's trigger lasts 3 s
# and is spent by the first call, so a repeat fails instead of opening a second modal.
CHECKED_BEFORE_RESENDING = frozenset({"chat.postMessage"})
HISTORY_PAGE = 100
HISTORY_PAGES = 5
# Slack's clock and ours may differ: the search starts this long before the row was recorded.
CLOCK_SKEW = timedelta(seconds=60)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


@cache
def failing_for(attempts: int) -> timedelta:
    """How long a message has been failing when its try number ``attempts`` fails: the waits
    between its tries, 0, 5, 15, 35, 75, 155, then 300 s (SET_ASIDE_AFTER), 620 s, ...
    At least that long, as a try can start late but never early (a rate limit's shorter wait
    aside, which settle allows for)."""
    return sum((retry_wait(n) for n in range(1, attempts)), timedelta())


def retry_wait(attempts: int) -> timedelta:
    """The wait after the failed try number ``attempts``: backoff, except that the try which
    would pass SET_ASIDE_AFTER comes at it exactly, so a message is set aside on time."""
    before = failing_for(attempts)
    wait = backoff(attempts)
    if before < SET_ASIDE_AFTER < before + wait:
        return SET_ASIDE_AFTER - before
    return wait


def sending_client(client: WebClient) -> WebClient:
    """``client`` as the outbox sends with it: waiting at most SEND_TIMEOUT for an answer, so a
    send ends well inside its claim (see longest_call), and retrying only calls that never
    reached Slack. slack_sdk by default also retries a connection reset or dropped while
    waiting for the answer; Slack may have taken the message by then, and that retry would post
    it a second time unseen. urllib raises URLError only while connecting or writing the
    request, so that one is safe to repeat."""
    sending = copy.copy(client)
    sending.timeout = min(client.timeout or SEND_TIMEOUT, SEND_TIMEOUT)
    sending.retry_handlers = [ConnectionErrorRetryHandler(error_types=[URLError])]
    return sending


def longest_call(client: WebClient) -> timedelta:
    """The longest one Web API call of a sending_client can take: its timeout, twice (a
    connection that failed is tried once more), and a margin."""
    return timedelta(seconds=2 * client.timeout + 5)


def deliver_due(
    new_session: SessionFactory,
    client: WebClient,
    *,
    now: Callable[[], datetime],
    limit: int = 100,
    owner: str | None = None,
) -> DeliveryReport:
    """Send what is due now, claimed for the process ``owner``. Returns counts; never raises
    for Slack's or the network's errors.

    At most one message per recipient is due at a time (the oldest unsent), so each person's
    messages stay in order.
    """
    client = sending_client(client)
    with new_session() as session:
        ids = outbox.due_ids(session=session, now=now(), limit=limit)
    outcomes = [_deliver_one(new_session, client, i, now, owner) for i in ids]
    report = DeliveryReport()
    for outcome in outcomes:
        report.sent += outcome == "sent"
        report.retrying += outcome == "retrying"
        report.failed += outcome == "failed"
    return report


def _deliver_one(
    new_session: SessionFactory,
    client: WebClient,
    message_id: int,
    now: Callable[[], datetime],
    owner: str | None,
) -> str | None:
    with transaction(new_session) as session:
        message = outbox.claim(
            session=session, message_id=message_id, now=now(), lease=LEASE, owner=owner
        )
    if message is None:
        return None  # another process or thread took it
    outcome = _look_then_send(new_session, client, message, now)
    if outcome is None:
        return None  # the claim ran out while looking: whoever holds it now sends it
    with transaction(new_session) as session:
        return settle(
            session,
            message_id=message_id,
            method=message.method,
            attempts=message.attempts,
            outcome=outcome,
            now=now(),
        )


def _look_then_send(
    new_session: SessionFactory,
    client: WebClient,
    message: OutboxMessage,
    now: Callable[[], datetime],
) -> Outcome | None:
    assert message.id is not None
    if message.uncertain and message.method in CHECKED_BEFORE_RESENDING:
        found = look(client, message)
        if found is not None:
            return found
        if not _claim_lasts_a_send(new_session, client, message, now):
            return None
    return send(client, message.method, message.payload, message_id=message.id)


def _claim_lasts_a_send(
    new_session: SessionFactory,
    client: WebClient,
    message: OutboxMessage,
    now: Callable[[], datetime],
) -> bool:
    """Whether the claim holds for as long as a send can take, renewed if looking took long;
    False if it ran out meanwhile and another process may hold it."""
    current = now()
    if current + longest_call(client) < message.next_attempt_at:
        return True
    assert message.id is not None
    with transaction(new_session) as session:
        return outbox.renew(
            session=session, message_id=message.id, now=current, until=current + LEASE
        )


def look(client: WebClient, message: OutboxMessage) -> Outcome | None:
    """Whether an uncertain post arrived after all: sent (with Slack's ts) if it did, None if it
    did not, so it is to be sent. A failure to retry later if Slack could not say; None if Slack
    refuses to say (a scope missing), as the message would otherwise never go out."""
    assert message.id is not None
    channel = str(message.payload.get("channel") or message.recipient)
    try:
        ts = find_posted(client, message_id=message.id, channel=channel, since=message.created_at)
    except Exception as exc:
        if _refused(exc):
            log.warning(
                "cannot look for outbox message %s (%s): sending it again unchecked",
                message.id,
                _error_code(exc),
            )
            return None
        outcome = failure(exc)
        return replace(outcome, uncertain=True, error=f"looking: {outcome.error}")
    if ts is None:
        log.info("outbox message %s (uncertain) had not arrived: sending it", message.id)
        return None
    log.info("outbox message %s (uncertain) had arrived: not sending it again", message.id)
    return Outcome(ok=True, ts=ts)


def find_posted(client: WebClient, *, message_id: int, channel: str, since: datetime) -> str | None:
    """Slack's ts of the post stamped with ``message_id`` in ``channel`` (a person's user id
    means their DM with the app), searching what was posted after ``since``; None if it is not
    there. Raises for Slack's and the network's errors."""
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
            if _stamp_of(posted) == str(message_id):
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


def _stamp_of(posted: dict[str, Any]) -> str | None:
    metadata = posted.get("metadata") or {}
    if metadata.get("event_type") != STAMP:
        return None
    outbox_id = (metadata.get("event_payload") or {}).get("outbox_id")
    return None if outbox_id is None else str(outbox_id)


def stamped(method: str, payload: dict[str, Any], message_id: int) -> dict[str, Any]:
    """The payload as sent: a post carries its outbox id, to be found again if need be."""
    if method not in CHECKED_BEFORE_RESENDING:
        return payload
    stamp = {"event_type": STAMP, "event_payload": {"outbox_id": message_id}}
    return {**payload, "metadata": stamp}


def settle(
    session: Session,
    *,
    message_id: int,
    method: str,
    attempts: int,
    outcome: Outcome,
    now: datetime,
) -> str:
    """Record how sending a claimed message went: "sent", "retrying" or "failed" (set aside
    for an operator: it no longer holds up its recipient's later messages)."""
    if outcome.ok:
        outbox.mark_sent(session=session, message_id=message_id, slack_ts=outcome.ts, now=now)
        return "sent"
    reason = _set_aside_because(session, message_id, attempts, outcome, now)
    if reason is not None:
        set_aside(session, message_id=message_id, method=method, error=outcome.error, now=now)
        log.error(
            "set aside outbox message %s (%s) after %s tr%s: %s (%s); `reflect outbox list` "
            "shows it, `reflect outbox retry %s` sends it again",
            message_id,
            method,
            attempts,
            "y" if attempts == 1 else "ies",
            outcome.error,
            reason,
            message_id,
        )
        return "failed"
    wait = outcome.retry_after or retry_wait(attempts)
    outbox.mark_retry(
        session=session,
        message_id=message_id,
        at=now + wait,
        error=outcome.error,
        uncertain=outcome.uncertain,
    )
    (log.error if outcome.error in APP_ERRORS else log.warning)(
        "outbox message %s: %s%s; retrying in %ss",
        message_id,
        outcome.error,
        " (may have arrived: looked for first)" if outcome.uncertain else "",
        int(wait.total_seconds()),
    )
    return "retrying"


def _set_aside_because(
    session: Session, message_id: int, attempts: int, outcome: Outcome, now: datetime
) -> str | None:
    """Why a failed message is to be set aside now, or None to retry it.

    At once when Slack's error is about the message or its recipient (PERMANENT_ERRORS). After
    SET_ASIDE_AFTER of failing when Slack has taken someone else's message since it started
    failing: the fault is this message's, not Slack's. While Slack fails everyone (an outage:
    5xx and timeouts everywhere, a revoked token), nothing is set aside for SET_ASIDE_AFTER;
    only after MAX_ATTEMPTS (about 31 hours of back-off)."""
    if outcome.permanent:
        return "refused for good"
    if attempts >= MAX_ATTEMPTS:
        return "every try failed"
    failing = failing_for(attempts)
    if outcome.error.endswith(tuple(BUSY_ERRORS)) or failing < SET_ASIDE_AFTER:
        return None
    message = outbox.failing_message(session=session, message_id=message_id)
    # A try may follow a rate limit's shorter wait: never sooner than SET_ASIDE_AFTER from
    # when the message was recorded.
    if message is None or now - message.created_at < SET_ASIDE_AFTER:
        return None
    since = max(now - failing, message.created_at)
    if not outbox.sent_to_others_since(session=session, recipient=message.recipient, since=since):
        return None
    return f"failing for {int(failing.total_seconds())} s while Slack took others' messages"


def set_aside(session: Session, *, message_id: int, method: str, error: str, now: datetime) -> None:
    """Set a message aside for an operator. A question set aside leaves its practitioner
    waiting for something that will not come, so they get a short plain note saying so, unless
    Slack said they cannot be written to (the note asks nothing: if it is set aside in turn,
    nothing more is sent)."""
    left_waiting = outbox.set_aside(session=session, message_id=message_id, error=error)
    if left_waiting is None or method != "chat.postMessage" or error in RECIPIENT_ERRORS:
        return
    text = renderer("slack").render("slack/message_set_aside.j2")
    for index, payload in enumerate(bk.chat_messages(left_waiting, bk.sections(text))):
        outbox.enqueue(
            session=session,
            dedupe_key=f"outbox-set-aside:{message_id}:{index}",
            method="chat.postMessage",
            recipient=left_waiting,
            payload=payload,
            now=now,
        )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: timedelta | None = None
    # The message may have arrived although the send failed: look for it before sending again.
    uncertain: bool = False
    # Slack's ts of the posted message.
    ts: str | None = None


def send(client: WebClient, method: str, payload: dict[str, Any], *, message_id: int) -> Outcome:
    """Call the Web API once for outbox message ``message_id``; never raises for Slack's or
    the network's errors."""
    try:
        response = client.api_call(method, json=stamped(method, payload, message_id))
    except Exception as exc:
        return failure(exc)
    ts = response.get("ts")
    return Outcome(ok=True, ts=str(ts) if ts else None)


def failure(exc: Exception) -> Outcome:
    """What a call that raised ``exc`` means for its message: retried when, or given up, and
    whether it may have arrived all the same."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            seconds = int(exc.response.headers.get("Retry-After", "30") or 30)
            return Outcome(ok=False, error="ratelimited", retry_after=timedelta(seconds=seconds))
        if status >= 500:  # Slack failed somewhere, perhaps after posting
            return Outcome(ok=False, error=f"http_{status}", uncertain=True)
        error = _error_code(exc)
        return Outcome(ok=False, error=error, permanent=error in PERMANENT_ERRORS)
    if isinstance(exc, URLError) and not isinstance(exc, HTTPError):
        # Connecting or writing the request failed (urllib wraps only those): Slack never had it.
        return Outcome(ok=False, error=type(exc).__name__)
    # A timeout or a dropped connection while waiting for the answer: Slack may have posted it.
    return Outcome(ok=False, error=type(exc).__name__, uncertain=True)


def _refused(exc: Exception) -> TypeGuard[SlackApiError]:
    """Slack answered, and the answer was no (not rate limiting, not its own failure)."""
    if not isinstance(exc, SlackApiError):
        return False
    status: int = exc.response.status_code
    return status != 429 and status < 500


def _error_code(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or f"http_{exc.response.status_code}")
