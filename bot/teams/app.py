"""Reflect's Teams endpoint, ``POST /api/messages``: check the token, read the activity, pass it
on, acknowledge.

Order matters: nothing is read into the database, and nothing is said, before the token is
checked (bot/teams/auth.py) and the activity's tenant is found to be the one Reflect serves.
Anything that fails those gets 401 and changes nothing. An activity Reflect does not act on
(a typing indicator, a reaction, an unknown type) is acknowledged and ignored, with one log
line. A dialog's invoke (``task/fetch``, ``task/submit``) is answered in the reply's body, which
Teams shows.

``TeamsApp.handle`` takes the request's headers and body and returns the status and body, for
any server; ``TeamsApp`` is also a WSGI application, for Reflect's own server to route to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.requests import Requests
from bot.settings import Settings
from bot.teams.activity import Unreadable, envelope, parse
from bot.teams.auth import ActivityTokens, Refused
from bot.teams.listeners import Listeners
from storage.db import SessionFactory

log = logging.getLogger(__name__)

PATH = "/api/messages"
# Teams' activities are a few kilobytes; anything much larger is not one.
LARGEST_BODY = 256 * 1024
StartResponse = Callable[..., Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TeamsApp:
    def __init__(
        self,
        *,
        tokens: ActivityTokens,
        tenant_id: str,
        listeners: Listeners,
    ) -> None:
        self.tokens = tokens
        self.tenant_id = tenant_id
        self.listeners = listeners

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """The status and body to answer a POST to /api/messages with."""
        try:
            document = json.loads(body)
            sent = envelope(document)
        except (ValueError, Unreadable):
            log.warning("teams: refused a request that is not an activity")
            return 401, b""
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        try:
            self.tokens.check(
                authorization, service_url=sent.service_url, channel_id=sent.channel_id
            )
        except Refused as refused:
            log.warning("teams: refused a request: %s", refused)
            return 401, b""
        if sent.tenant_id != self.tenant_id:
            log.warning("teams: refused an activity from another tenant")
            return 401, b""
        try:
            incoming = parse(document)
        except Unreadable as unreadable:
            (log.debug if unreadable.routine else log.info)(
                "teams: ignored an activity: %s", unreadable
            )
            return 200, b""
        try:
            answer = self.listeners.on_activity(incoming)
        except SQLAlchemyError as exc:  # the database is away: Teams may send it again
            log.error("teams: could not handle an activity: %s", type(exc).__name__)
            return 503, b""
        return 200, b"" if answer is None else json.dumps(answer).encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """WSGI: POST /api/messages."""
        if environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, 405, b"")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= LARGEST_BODY:
            log.warning("teams: refused a request of %s bytes", length)
            return _respond(start_response, 401, b"")
        body = environ["wsgi.input"].read(length)
        headers = {"Authorization": str(environ.get("HTTP_AUTHORIZATION") or "")}
        status, answer = self.handle(headers, body)
        return _respond(start_response, status, answer)


def _respond(start_response: StartResponse, status: int, body: bytes) -> list[bytes]:
    reasons = {200: "OK", 401: "Unauthorized", 405: "Method Not Allowed", 503: "Unavailable"}
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def teams_app_for(
    settings: Settings,
    requests: Requests,
    new_session: SessionFactory,
    *,
    now: Callable[[], datetime] = _utcnow,
) -> TeamsApp | None:
    """The Teams endpoint the settings describe; None when Teams is not configured."""
    if settings.teams_app_id is None or settings.teams_tenant_id is None:
        return None
    tokens = ActivityTokens(
        app_id=settings.teams_app_id, openid_url=settings.teams_openid_url or ""
    )
    listeners = Listeners(requests=requests, new_session=new_session, now=now)
    return TeamsApp(tokens=tokens, tenant_id=settings.teams_tenant_id, listeners=listeners)
