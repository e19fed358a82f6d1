"""Delivers the outbox to Slack's Web API: in order per recipient, with retries, never twice.

Every process that records messages (web, clock) also runs delivery; claims are leases in the
database, so several processes can deliver at once without sending anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from storage import outbox
from storage.db import SessionFactory, transaction
from storage.models import OutboxMessage

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
    """Send what is due now. Returns counts; never raises for Slack's or the network's errors."""
    report = DeliveryReport()
    with new_session() as session:
        ids = outbox.due_ids(session=session, now=now(), limit=limit)
    blocked: set[str] = set()
    for message_id in ids:
        with transaction(new_session) as session:
            if not outbox.claim(session=session, message_id=message_id, now=now(), lease=LEASE):
                continue
            message = session.get(OutboxMessage, message_id)
        if message is None or message.recipient in blocked:
            _release(new_session, message_id, now(), "waiting for an earlier message")
            continue
        outcome = _send(client, message)
        with transaction(new_session) as session:
            if outcome.ok:
                outbox.mark_sent(session=session, message_id=message_id, now=now())
                report.sent += 1
                continue
            blocked.add(message.recipient)
            if outcome.permanent or message.attempts >= MAX_ATTEMPTS:
                outbox.mark_failed(session=session, message_id=message_id, error=outcome.error)
                log.error(
                    "outbox message %s to %s failed for good: %s",
                    message_id,
                    message.method,
                    outcome.error,
                )
                report.failed += 1
            else:
                wait = outcome.retry_after or backoff(message.attempts)
                outbox.mark_retry(
                    session=session, message_id=message_id, at=now() + wait, error=outcome.error
                )
                log.warning(
                    "outbox message %s: %s; retrying in %ss",
                    message_id,
                    outcome.error,
                    int(wait.total_seconds()),
                )
                report.retrying += 1
    return report


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: timedelta | None = None


def _send(client: WebClient, message: OutboxMessage) -> _Outcome:
    try:
        client.api_call(message.method, json=message.payload)
        return _Outcome(ok=True)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"http_{status}")
        if status == 429:
            seconds = int(exc.response.headers.get("Retry-After", "30") or 30)
            return _Outcome(ok=False, error="ratelimited", retry_after=timedelta(seconds=seconds))
        if status >= 500:
            return _Outcome(ok=False, error=f"http_{status}")
        return _Outcome(ok=False, error=error, permanent=error in PERMANENT_ERRORS)
    except Exception as exc:  # network down, timeouts: retried later
        return _Outcome(ok=False, error=type(exc).__name__)


def _release(new_session: SessionFactory, message_id: int, at: datetime, reason: str) -> None:
    with transaction(new_session) as session:
        outbox.mark_retry(session=session, message_id=message_id, at=at, error=reason)
