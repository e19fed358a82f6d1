"""Delivers the outbox to Slack's Web API: in order per recipient, with retries, never twice.

Every process that records messages (web, clock) also runs delivery; claims are leases in the
database, so several processes can deliver at once without sending anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient
from sqlmodel import Session

from storage import outbox
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
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


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


def deliver_due(
    new_session: SessionFactory,
    client: WebClient,
    *,
    now: Callable[[], datetime],
    limit: int = 100,
) -> DeliveryReport:
    """Send what is due now. Returns counts; never raises for Slack's or the network's errors.

    At most one message per recipient is due at a time (the oldest unsent), so each person's
    messages stay in order.
    """
    with new_session() as session:
        ids = outbox.due_ids(session=session, now=now(), limit=limit)
    outcomes = [_deliver_one(new_session, client, i, now) for i in ids]
    report = DeliveryReport()
    for outcome in outcomes:
        report.sent += outcome == "sent"
        report.retrying += outcome == "retrying"
        report.failed += outcome == "failed"
    return report


def _deliver_one(
    new_session: SessionFactory, client: WebClient, message_id: int, now: Callable[[], datetime]
) -> str | None:
    with transaction(new_session) as session:
        message = outbox.claim(session=session, message_id=message_id, now=now(), lease=LEASE)
    if message is None:
        return None  # another process or thread took it
    outcome = send(client, message.method, message.payload)
    with transaction(new_session) as session:
        return settle(
            session,
            message_id=message_id,
            method=message.method,
            attempts=message.attempts,
            outcome=outcome,
            now=now(),
        )


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
        outbox.mark_sent(session=session, message_id=message_id, now=now)
        return "sent"
    if outcome.permanent or attempts >= MAX_ATTEMPTS:
        outbox.mark_failed(session=session, message_id=message_id, error=outcome.error)
        log.error("outbox message %s (%s) failed for good: %s", message_id, method, outcome.error)
        return "failed"
    wait = outcome.retry_after or backoff(attempts)
    outbox.mark_retry(session=session, message_id=message_id, at=now + wait, error=outcome.error)
    log.warning(
        "outbox message %s: %s; retrying in %ss",
        message_id,
        outcome.error,
        int(wait.total_seconds()),
    )
    return "retrying"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: timedelta | None = None


def send(client: WebClient, method: str, payload: dict[str, Any]) -> Outcome:
    """Call the Web API once; never raises for Slack's or the network's errors."""
    try:
        client.api_call(method, json=payload)
        return Outcome(ok=True)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"http_{status}")
        if status == 429:
            seconds = int(exc.response.headers.get("Retry-After", "30") or 30)
            return Outcome(ok=False, error="ratelimited", retry_after=timedelta(seconds=seconds))
        if status >= 500:
            return Outcome(ok=False, error=f"http_{status}")
        return Outcome(ok=False, error=error, permanent=error in PERMANENT_ERRORS)
    except Exception as exc:  # network down, timeouts: retried later
        return Outcome(ok=False, error=type(exc).__name__)
