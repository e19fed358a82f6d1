"""Turns malformed requests into a 400 before Bolt sees them.

Bolt parses the body while building its request (before any listener or middleware runs), and
an unparseable or oddly shaped body makes it raise: the web server would answer 500 and log a
traceback. The guard parses first, checks the fields the listeners rely on have the types Slack
documents, and refuses anything else with 400 -- or 401 when the signature is wrong too, so an
unsigned caller learns nothing more than it would from Bolt. Listeners can then stay thin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest

log = logging.getLogger(__name__)

ID_LIMIT = 64
MAX_CLOCK_SKEW = 60 * 5  # seconds, as Bolt allows
Headers = Mapping[str, str | Sequence[str]]

# Events whose fields the listeners read.
_READ_EVENTS = {"message", "app_home_opened"}
# Interactions whose listeners read the clicker from body.user.id.
_INTERACTIONS = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}


class RequestGuard:
    """Dispatches a raw request to ``app`` if it is well formed; refuses it otherwise.

    Args:
        app: the Bolt app.
        signing_secret: checked on refused requests only (Bolt checks the others); None when
            request verification is off.
    """

    def __init__(self, app: App, signing_secret: str | None) -> None:
        self.app = app
        self.secret = signing_secret.encode() if signing_secret else None

    def dispatch(self, body: str | bytes, *, headers: Headers, query: str = "") -> BoltResponse:
        try:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            request = BoltRequest(body=text, query=query, headers=dict(headers))
        except (ValueError, KeyError, TypeError, AttributeError):  # JSON that does not parse
            return self._refuse(body, headers, "unreadable")
        problem = shape_problem(request.body)
        if problem:
            return self._refuse(body, headers, problem)
        return self.app.dispatch(request)

    def _refuse(self, body: str | bytes, headers: Headers, problem: str) -> BoltResponse:
        if self.secret is not None and not self._signed(body, headers):
            return BoltResponse(status=401, body='{"error": "invalid request"}')
        # Never the body: it may hold what a practitioner typed.
        log.warning("refused a malformed Slack request: %s", problem)
        return BoltResponse(status=400, body='{"error": "malformed request"}')

    def _signed(self, body: str | bytes, headers: Headers) -> bool:
        """Slack's v0 signature, over the bytes as sent (slack_sdk's verifier needs UTF-8)."""
        assert self.secret is not None
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = _first(lowered.get("x-slack-request-timestamp")) or ""
        signature = _first(lowered.get("x-slack-signature")) or ""
        if not timestamp.isascii() or not timestamp.isdigit():
            return False
        if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
            return False
        raw = body.encode() if isinstance(body, str) else body
        expected = hmac.new(self.secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
        return hmac.compare_digest("v0=" + expected.hexdigest(), signature)


def _first(value: str | Sequence[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value[0] if value else None


def shape_problem(body: Any) -> str | None:
    """What is wrong with a parsed body, or None if the listeners can read it."""
    if not isinstance(body, dict):
        return "not an object"
    if body.get("ssl_check") == "1":
        return None  # Slack checking the certificate; Bolt answers it
    if "command" in body:
        return _fields(
            body, "command", command=str, user_id=str, text=str, trigger_id=str
        ) or _too_long_id(body.get("user_id"))
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        return "no type"
    if kind == "url_verification":
        return _fields(body, kind, challenge=str)
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback without an event type"
        problem = _optional(body, kind, event_id=str)
        if problem or event["type"] not in _READ_EVENTS:
            return problem  # other events' fields are not read (and `user` may be an object)
        return _optional(
            event, "event", user=str, text=str, channel_type=str, subtype=str, tab=str
        ) or _too_long_id(event.get("user"))
    if kind in _INTERACTIONS:
        user = body.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
            return f"{kind} without a user"
        if _too_long_id(user["id"]):
            return _too_long_id(user["id"])
        problem = _optional(body, kind, trigger_id=str, state=dict)
        if problem:
            return problem
    if kind == "block_actions":
        if not isinstance(body.get("trigger_id"), str):  # a modal opens from it
            return "block_actions without a trigger_id"
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without actions"
        for action in actions:
            if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
                return "an action without an action_id"
            problem = _optional(action, "action", value=str, block_id=str, selected_date=str)
            if problem:
                return problem
    if kind in {"view_submission", "view_closed"}:
        view = body.get("view")
        if not isinstance(view, dict):
            return f"{kind} without a view"
        problem = _fields(view, "view", type=str, callback_id=str)
        if problem:
            return problem
        return _optional(view, "view", private_metadata=str, state=dict, id=str, hash=str)
    return None


def _too_long_id(value: object) -> str | None:
    """Slack IDs are a dozen characters; the columns that keep them hold 64."""
    return "a user ID too long" if isinstance(value, str) and len(value) > ID_LIMIT else None


def _fields(part: dict[str, Any], name: str, **types: type) -> str | None:
    """Every field named must be present with the given type (text and trigger_id may be
    missing from a command; Slack always sends them, so an absent one is read as empty)."""
    for field, kind in types.items():
        value = part.get(field)
        if value is None and field in {"text", "trigger_id"}:
            continue
        if not isinstance(value, kind) or (kind is str and field != "text" and not value):
            return f"{name} without a valid {field}"
    return None


def _optional(part: dict[str, Any], name: str, **types: type) -> str | None:
    """Fields that may be absent or null, but if given must have the given type."""
    for field, kind in types.items():
        value = part.get(field)
        if value is not None and not isinstance(value, kind):
            return f"{name} with an invalid {field}"
    return None


class GuardedRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter with the guard in front of the app."""

    def __init__(self, app: App, guard: RequestGuard, path: str) -> None:
        super().__init__(app, path=path)
        self.guard = guard

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        environ = request.environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return BoltResponse(status=400, body='{"error": "malformed request"}')
        stream = environ.get("wsgi.input")
        raw = stream.read(length) if stream is not None and length > 0 else b""
        return self.guard.dispatch(raw, headers=request.get_headers(), query=request.query_string)
