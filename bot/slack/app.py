"""Builds the Bolt app. Nothing happens on import; nothing calls Slack until a request comes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App
from slack_sdk.web import WebClient

from bot.bootstrap import Database
from bot.messaging.delivery import Delivery
from bot.messaging.inbox import Inbox
from bot.reflection.messages import Guard
from bot.reflection.service import utcnow
from bot.requests import Requests
from bot.settings import Settings
from bot.slack.context import SlackContext
from bot.slack.listeners import register_listeners

log = logging.getLogger(__name__)
bolt_log = logging.getLogger("reflect.slack.bolt")
DEFAULT_API_URL = WebClient.BASE_URL


class _QuietTokenNotice(logging.Filter):
    """Bolt notices SLACK_BOT_TOKEN beside the client we built from it; that is intended."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


bolt_log.addFilter(_QuietTokenNotice())


def make_client(settings: Settings) -> WebClient:
    """The Web API client; SLACK_API_URL points it elsewhere (a proxy, or the tests' fake)."""
    base_url = settings.slack_api_url or DEFAULT_API_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(token=settings.slack_bot_token, base_url=base_url, timeout=10)


def build_app(
    settings: Settings,
    database: Database,
    *,
    client: WebClient | None = None,
    now: Callable[[], datetime] = utcnow,
    guard: Guard | None = None,
    wake: Callable[[], None] = lambda: None,
    delivery: Delivery | None = None,
    inbox: Inbox | None = None,
    requests: Requests | None = None,
) -> App:
    """The Bolt app with every listener registered.

    Args:
        settings: tokens, signing secret, time zone.
        database: where the service and the outbox live.
        client: the Web API client (default: from settings).
        now: the clock (tests pass one they control).
        guard: the identifier guard for answers (bot/protection/identifiers.py's IdentifierGuard).
        wake: called after a request recorded messages, to start delivery at once.
        delivery: the delivery loop that sends what requests record as soon as they commit
            (`reflect serve`); without it, what is recorded waits for a delivery pass.
        inbox: handles answers and /reflect after Slack's 200 on its own threads (`reflect
            serve`); by default each is handled in its request, before the 200.
        requests: the request path shared with the deployment's other front ends; by default
            one is built from the above.
    """
    app = App(
        signing_secret=settings.slack_signing_secret or "",
        client=client or make_client(settings),
        # No auth.test at start: the app is built in every worker and in tests.
        token_verification_enabled=False,
        # Store, then acknowledge: Slack gets its 200 after the listener has committed.
        process_before_response=True,
        request_verification_enabled=settings.slack_signing_secret is not None,
        logger=bolt_log,
    )
    if requests is None:
        requests = Requests(
            database.new_session,
            now=now,
            timezone=settings.timezone,
            guard=guard,
            wake=delivery.wake if delivery else wake,
            delivery=delivery,
            report_small_number=settings.report_small_number,
            inbox=inbox,
        )
    register_listeners(app, SlackContext(requests))
    app.error(_log_error)
    return app


def _log_error(error: Exception, body: dict[str, Any]) -> None:
    # The type only: messages from lower layers can carry what a practitioner typed.
    kind = body.get("type") or body.get("command") or "request"
    log.error("a %s failed: %s", kind, type(error).__name__)
