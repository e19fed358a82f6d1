"""Answering in the request: the whole step in one transaction, committed before Slack's 200.

The handled-once key, the answer, the reflection's new state and the next question (recorded
in the outbox, claimed by this process) are written together; the question is sent as soon as
the transaction commits. Nothing is acknowledged before it is stored, so:

- a process killed before the commit leaves nothing: Slack had no 200 and sends the event again;
- a process killed after the commit leaves the next question claimed by a dead process, which
  the process table hands to another (bot/liveness.py); Slack's retry finds the key taken;
- a database that fails or times out rolls the step back, and the request is answered 503
  (bot/slack/server.py), so Slack sends the event again;
- a retry that arrives while the first delivery is still being handled waits on the key's row
  and then finds it taken: the answer is handled once.

Two answers of one person handled at once are taken one after the other by the reflection's
row lock; each is filed under the question that was on screen when it was typed.

An answer that cannot be handled here and now goes to the inbox instead (bot/slack/inbox.py),
which handles it after the 200: when as many answers as the inbox has handlers are being handled
in requests already (long write transactions in many requests queue behind one another, and
every acknowledgement with them); when something of the person's is still waiting there (it goes
behind it, in order); when a question's send is in flight (which question they saw is not known
yet); and when handling failed for a reason other than the database (the inbox tries again,
and sets it aside and tells the person if it never succeeds). /reflect's start goes the same way.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.reflection.messages import Position
from bot.reflection.service import StartPreview
from bot.slack import claims
from bot.slack.context import SlackContext
from storage import inbox
from storage.db import transaction
from storage.prompts_shown import on_screen_at

log = logging.getLogger(__name__)


# A question's send is in flight when its answer arrives only when the answer was typed within
# moments of it: waits this long (a few times) for the send's outcome before leaving the answer
# to the inbox, whose own wait is longer.
SETTLING_WAITS = (0.005, 0.01, 0.02)


class _ToInbox(Exception):
    """The answer is handled by the inbox, after the 200, behind what waits ahead of it."""


class _NotSettled(Exception):
    """Which question was on screen is not known yet: a question's send is in flight."""


def answer_in_request(
    context: SlackContext, *, kind: str, user_id: str, payload: dict[str, Any], claim: str
) -> None:
    """Handle an answer (``payload``: key, text, ts) within its request, or store it in the
    inbox when it cannot be handled here and now. Raises when the database fails."""
    if not context.steps_in_requests.acquire(blocking=False):  # busy: the inbox, at once
        context.inbox.accept(kind=kind, user_id=user_id, payload=payload, claim=claim)
        return
    try:
        _answer(context, kind=kind, user_id=user_id, payload=payload, claim=claim)
    finally:
        context.steps_in_requests.release()


def _answer(
    context: SlackContext, *, kind: str, user_id: str, payload: dict[str, Any], claim: str
) -> None:
    for wait in (*SETTLING_WAITS, None):
        try:
            _step(context, user_id=user_id, payload=payload, claim=claim)
            return
        except claims.AlreadyHandled:
            return
        except _NotSettled:
            if wait is None:
                break
            time.sleep(wait)
        except _ToInbox:
            break
        except (DBAPIError, PoolTimeout, TimeoutError):
            raise  # nothing stored: answered 503, and Slack sends it again
        except Exception as exc:  # the type only: the message may carry what was typed
            log.error("could not handle an answer in its request: %s", type(exc).__name__)
            break
    context.inbox.accept(kind=kind, user_id=user_id, payload=payload, claim=claim)


def _step(context: SlackContext, *, user_id: str, payload: dict[str, Any], claim: str) -> None:
    service = context.service(context.sink(payload["key"]))
    with transaction(context.new_session) as session:
        claims.claim(session=session, key=claim, now=context.now())
        if inbox.has_waiting(session=session, user_id=user_id):
            raise _ToInbox
        typed_under = None
        if payload.get("ts"):
            shown = on_screen_at(
                session=session,
                recipient=user_id,
                ts=payload["ts"],
                sent_not_marked=context.sent_not_marked,
            )
            if not shown.settled:
                raise _NotSettled
            typed_under = Position.from_key(shown.prompt)
        service.respond_in(
            session, practitioner_id=user_id, text=payload["text"], typed_under=typed_under
        )


def start_in_request(
    context: SlackContext, *, user_id: str, case_ref: str, key: str
) -> StartPreview | None:
    """/reflect's start (or resume) in its request, in one transaction with its first question;
    what start() refuses comes back in the preview, to say at once. None when it is left to
    the inbox (something of the person's waits there, or starting failed other than by the
    database, or too many are being handled in requests). Raises when the database fails."""
    if not context.steps_in_requests.acquire(blocking=False):
        return None
    try:
        return _start(context, user_id=user_id, case_ref=case_ref, key=key)
    finally:
        context.steps_in_requests.release()


def _start(context: SlackContext, *, user_id: str, case_ref: str, key: str) -> StartPreview | None:
    sink = context.sink(key)
    service = context.service(sink)
    try:
        with transaction(context.new_session) as session:
            preview = service.preview_start(
                practitioner_id=user_id, case_ref=case_ref, session=session
            )
            if preview.refusal is not None:
                return preview
            if inbox.has_waiting(session=session, user_id=user_id):
                raise _ToInbox
            reply = service.start_in(session, practitioner_id=user_id, case_ref=preview.case_ref)
            if not sink.recorded:  # refused after all: said in the DM
                sink.record(session, user_id, reply)
            return preview
    except _ToInbox:
        return None
    except (DBAPIError, PoolTimeout, TimeoutError):
        raise
    except Exception as exc:  # the type only
        log.error("could not start a reflection in its request: %s", type(exc).__name__)
        return None
