"""Delivers the outbox to Slack's Web API: in order per recipient, with retries, never twice.

Every process that records messages (web, clock) also runs delivery; claims are leases in the
database, so several processes can deliver at once without sending anything twice.

A send whose outcome is unknown (the process died mid-send, Slack answered too late or with a
5xx) leaves the message uncertain. Each post carries its outbox id in Slack's message metadata,
so before an uncertain post is sent again, the conversation is searched for it: found, it is
marked sent with Slack's ts for it; not found, it is sent.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.web import WebClient
from sqlmodel import Session

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
# Slack errors that no retry will fix; the message is marked failed and logged.
PERMANENT_ERRORS = {
    "account_inactive",
    "channel_not_found",
    "invalid_auth",
    "invalid_blocks",
    "invalid_arguments",
    "is_archived",
    "msg_too_long",
    "no_text",
    "not_authed",
    "not_in_channel",
    "user_not_found",
    "users_not_found",
    "user_disabled",
    "cannot_dm_bot",
}
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
    """Record how sending a claimed message went: "sent", "retrying" or "failed"."""
    if outcome.ok:
        outbox.mark_sent(session=session, message_id=message_id, slack_ts=outcome.ts, now=now)
        return "sent"
    if outcome.permanent or attempts >= MAX_ATTEMPTS:
        outbox.mark_failed(session=session, message_id=message_id, error=outcome.error)
        log.error("outbox message %s (%s) failed for good: %s", message_id, method, outcome.error)
        return "failed"
    wait = outcome.retry_after or backoff(attempts)
    outbox.mark_retry(
        session=session,
        message_id=message_id,
        at=now + wait,
        error=outcome.error,
        uncertain=outcome.uncertain,
    )
    log.warning(
        "outbox message %s: %s%s; retrying in %ss",
        message_id,
        outcome.error,
        " (may have arrived: looked for first)" if outcome.uncertain else "",
        int(wait.total_seconds()),
    )
    return "retrying"


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


def _refused(exc: Exception) -> bool:
    """Slack answered, and the answer was no (not rate limiting, not its own failure)."""
    if not isinstance(exc, SlackApiError):
        return False
    status = exc.response.status_code
    return status != 429 and status < 500


def _error_code(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or f"http_{exc.response.status_code}")
